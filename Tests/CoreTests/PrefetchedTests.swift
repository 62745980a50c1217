#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Dispatch
import Testing
@testable import ReckonCore

/// `Prefetched` (a two-stage pipeline) and `TemporaryFile`'s block transfers.
@Suite("Prefetched and block I/O")
struct PrefetchedTests {
    /// What the producer saw, under a lock (it runs on its own thread).
    final class Log: @unchecked Sendable {
        private let lock = DispatchSemaphore(value: 1)
        private var _produced: [Int] = []
        private var _released = 0
        private var _tooFarAhead: [Int] = []
        func produced(_ i: Int) {
            lock.wait(); defer { lock.signal() }
            // Element i may start only once the caller is done with element i - 2.
            if i > _released + 1 { _tooFarAhead.append(i) }
            _produced.append(i)
        }
        func release() { lock.wait(); _released += 1; lock.signal() }
        var producedSoFar: [Int] { lock.wait(); defer { lock.signal() }; return _produced }
        var tooFarAhead: [Int] { lock.wait(); defer { lock.signal() }; return _tooFarAhead }
    }

    @Test func elementsComeInOrderAndAtMostOneAhead() throws {
        let log = Log()
        let p = Prefetched(count: 50, label: "test") { i -> [Int] in
            log.produced(i)
            if i % 7 == 0 { usleep(2_000) }  // a slow producer now and then, a slow caller otherwise
            return [i, i * i]
        }
        defer { p.finish() }
        var got: [[Int]] = []
        while let e = try p.next() {
            if e[0] % 5 == 0 { usleep(3_000) }
            got.append(e)
            log.release()
        }
        #expect(got == (0..<50).map { [$0, $0 * $0] })
        #expect(log.producedSoFar == Array(0..<50))
        #expect(log.tooFarAhead.isEmpty)
        #expect(try p.next() == nil)
    }

    struct Broken: Error, Equatable { var at: Int }

    @Test func anErrorIsThrownInItsPlaceAndNothingIsProducedAfterIt() throws {
        let log = Log()
        let p = Prefetched(count: 6, label: "test") { i -> Int in
            log.produced(i)
            if i == 3 { throw Broken(at: 3) }
            return i
        }
        defer { p.finish() }
        #expect(try p.next() == 0)
        #expect(try p.next() == 1)
        #expect(try p.next() == 2)
        #expect(throws: Broken(at: 3)) { _ = try p.next() }
        #expect(try p.next() == nil)
        p.finish()
        #expect(log.producedSoFar == [0, 1, 2, 3])
    }

    @Test func finishingEarlyStopsTheProducer() throws {
        let log = Log()
        let p = Prefetched(count: 1000, label: "test") { i -> Int in log.produced(i); return i }
        #expect(try p.next() == 0)
        p.finish()
        p.finish()  // idempotent
        #expect(log.producedSoFar.count <= 3)
        let none = Prefetched(count: 0, label: "test") { i -> Int in Issue.record("produced \(i)"); return i }
        #expect(try none.next() == nil)
        none.finish()
    }

    @Test func recycledHoldsOneSpare() {
        let r = Recycled<[Int]>()
        #expect(r.take() == nil)
        r.put([1])
        r.put([2])
        #expect(r.take() == [2])
        #expect(r.take() == nil)
    }

    /// Whole blocks appended and read back, direct where the file system allows (ext4 here) and
    /// through the page cache where it does not: the same bytes either way.
    @Test func blocksReadBackAsWritten() throws {
        var folders = ["/tmp/reckon-blocks-\(getpid())"]
        if FileSystem.isDirectory("/dev/shm") { folders.append("/dev/shm/reckon-blocks-\(getpid())") }
        for folder in folders {
            defer { rmdir(folder) }
            let f = try TemporaryFile(folder: folder, purpose: "a test", direct: true)
            #expect(try FileSystem.files(under: folder, includeHidden: true).isEmpty)  // unnamed
            var expected: [UInt8] = []
            for blocks in [1, 256, 3, 300] {
                let chunk = AlignedBytes(capacity: blocks * 4096)
                chunk.resize(to: blocks * 4096)
                for k in 0..<chunk.count { chunk.base.storeBytes(of: UInt8(truncatingIfNeeded: (expected.count + k) &* 7 &+ blocks), toByteOffset: k, as: UInt8.self) }
                try f.appendBlocks(UnsafeRawBufferPointer(start: chunk.base, count: chunk.count))
                expected += UnsafeRawBufferPointer(start: chunk.base, count: chunk.count)
            }
            #expect(f.size == expected.count)
            let buffer = AlignedBytes(capacity: 1 << 20)
            for (offset, count) in [(0, 4096), (4096, 1 << 20), (257 * 4096, 3 * 4096), (expected.count - 8192, 8192)] {
                let into = UnsafeMutableRawBufferPointer(start: buffer.base, count: count)
                try f.readBlocks(at: offset, into: into)
                #expect(Array(UnsafeRawBufferPointer(into)) == Array(expected[offset..<(offset + count)]), "\(folder) at \(offset)")
            }
        }
    }
}
