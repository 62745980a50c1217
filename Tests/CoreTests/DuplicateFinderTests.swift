import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import ReckonCore

@Suite("DuplicateFinder")
struct DuplicateFinderTests {
    let folder = "/tmp/reckon-dupfinder-\(getpid())"

    @Test func findsLaterOccurrencesOnly() throws {
        let f = DuplicateFinder(spillFolder: folder)
        for k: UInt128 in [5, 9, 5, 0, 7, 9, 5, 0, 1 << 127, 1 << 127] { try f.add(k) }
        let r = try f.duplicates()
        #expect(r.ordinals == [2, 5, 6, 7, 9] && r.count == 5)
        #expect(r.count(in: 0..<5) == 1 && r.count(in: 5..<10) == 4 && r.count(in: 3..<5) == 0 && !r.contains(10) && !r.contains(-1))
        #expect(f.file == nil, "ten keys stay in memory")
    }

    /// 200,000 keys with about 2,000 repeats, and the set-based answer.
    static func keys() -> (keys: [UInt128], repeats: [Int]) {
        var seen = Set<UInt128>()
        var keys: [UInt128] = [], repeats: [Int] = []
        var x: UInt64 = 0x1234_5678_9ABC_DEF0
        for i in 0..<200_000 {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            let key = i % 97 == 0 ? UInt128(i / 97 % 50) : UInt128(x) << 64 | UInt128(x ^ 0x5555)  // a few small keys repeat
            keys.append(key)
            if !seen.insert(key).inserted { repeats.append(i) }
        }
        return (keys, repeats)
    }

    @Test func manyKeysMatchASetBasedAnswerInMemoryOrWritten() throws {
        let (keys, expected) = Self.keys()
        #expect(expected.count == 2012 && expected.first == 4850 && expected.last == 199_917)
        // One block in memory (nothing written), then blocks of 1,000 written to the file.
        for blockKeys in [1 << 18, 1_000] {
            let f = DuplicateFinder(spillFolder: folder, blockKeys: blockKeys)
            for k in keys { try f.add(k) }
            #expect(f.count == 200_000)
            let r = try f.duplicates()
            #expect(r.count == 2012 && r.count(in: 0..<4850) == 0 && r.count(in: 4850..<4851) == 1 && r.count(in: 100_000..<200_000) == 1031)
            #expect(try f.duplicates().ordinals == expected, "blocks of \(blockKeys)")
            #expect((f.file == nil) == (blockKeys > 200_000))
            #expect(f.inMemory <= blockKeys && f.tail.isEmpty)
            // Groups of partitions read one at a time, shared among threads (fewer, as many as,
            // and more threads than groups): the same answer.
            for (groupKeys, threads) in [(20_000, 1), (20_000, 2), (1_000, 3), (100_000, 4), (1 << 18, 8)] {
                #expect(try f.duplicates(threads: threads, groupKeys: groupKeys).ordinals == expected,
                        "blocks of \(blockKeys), groups of \(groupKeys), \(threads) threads")
            }
        }
    }

    @Test func findersTakenOverInOrderActAsOne() throws {
        // The parts of a file read on several threads: each part's finder is appended to the
        // stage's in part order, between keys the stage added itself.
        let (keys, expected) = Self.keys()
        let whole = DuplicateFinder(spillFolder: folder, blockKeys: 5_000)
        for k in keys[0..<30_000] { try whole.add(k) }
        for range in [30_000..<31_000, 31_000..<100_000, 100_000..<180_000] {
            let part = DuplicateFinder(spillFolder: folder, blockKeys: 5_000)
            for k in keys[range] { try part.add(k) }
            try whole.append(part)
            #expect(part.count == 0)
        }
        for k in keys[180_000...] { try whole.add(k) }
        #expect(whole.count == 200_000)
        #expect(try whole.duplicates(threads: 2, groupKeys: 10_000).ordinals == expected)
        #expect(whole.inMemory <= 3 * 5_000, "each finder keeps at most a block's worth in memory")
    }

    /// Keys alike in their top 64 bits (the request ids' FNV-1a, which two ids can share) and
    /// different below are different keys: nothing repeats, in memory or written, on any thread.
    @Test func keysThatShareTheirTop64BitsAreNotRepeats() throws {
        for blockKeys in [1 << 18, 7] {
            let f = DuplicateFinder(spillFolder: folder, blockKeys: blockKeys)
            let top: UInt128 = 0xDEAD_BEEF_0BAD_F00D << 64
            for low: UInt128 in [1, 2, 3, 1, 4, 5, 6, 7, 8, 9, 10, 11] { try f.add(top | low) }
            for threads in [1, 2] {
                #expect(try f.duplicates(threads: threads, groupKeys: 4).ordinals == [3], "blocks of \(blockKeys), \(threads) threads")
            }
        }
    }

    /// A request id's key: its FNV-1a above a second hash of the same bytes; equal ids, equal
    /// keys; ids of every length up to 17 bytes that differ in one byte differ in the low word.
    @Test func requestIdKeysCarryFNVAboveASecondHash() {
        func key(_ s: String) -> UInt128 { var s = s; return s.withUTF8 { requestIdKey(UnsafeRawBufferPointer($0)) } }
        func fnv(_ s: String) -> UInt64 { var s = s; return s.withUTF8 { fnv1a64(UnsafeRawBufferPointer($0)) } }
        #expect(UInt64(truncatingIfNeeded: key("req_01") >> 64) == fnv("req_01") && fnv("") == 0xcbf29ce484222325)
        #expect(key("req_5796482c590e0000000") == key("req_5796482c590e0000000"))
        var lows = Set<UInt64>()
        for n in 0...17 {
            let base = String(repeating: "a", count: n)
            lows.insert(UInt64(truncatingIfNeeded: key(base)))
            if n > 0 { lows.insert(UInt64(truncatingIfNeeded: key(String(base.dropLast()) + "b"))) }
        }
        #expect(lows.count == 18 + 17, "the empty id, 17 ids of a's and 17 ending in b: all different")
    }
}
