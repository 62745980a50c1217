import Dispatch
import ReckonCore

/// Output cells moved out of memory when the estimate's cell table reaches its budget
/// (`EstimatedRowBuilder.limitCells`): a `TemporaryFile` (unnamed, so a killed run leaves nothing
/// behind) of fixed-size records, written in batches grouped by
/// the UTC day of the cell's charge period start, with where each day's records of each batch are.
///
/// The rows come out ordered by charge period start first, so the final pass reads one day at a
/// time from every spill, sums that day's cells and sorts them: memory is bounded by the largest
/// day's distinct rows, not by the month's.
///
/// A batch is encoded on the caller's thread and written behind on a thread of its own while the
/// caller prices on (with one pricing thread the other core is otherwise idle). Batches are
/// padded to whole 4 KiB blocks and written and read with `O_DIRECT` where the file system allows
/// (`TemporaryFile.appendBlocks`): the kernel's copy into page-cache pages is slow on this VM —
/// strace timed 1.43 s of buffered `pwrite` for the 1.4 GB a 10 M-record run spills. Reading
/// waits for the writes.
/// - Memory: the segment index (a few entries per day and batch), one batch's encoded records
///   being written (72 bytes a cell: ~4.7 MB for the default 65,536 cells) and the one being
///   encoded; records are read back through a 1 MiB buffer.
final class CellSpill: @unchecked Sendable {
    /// Bytes per record: charge start and end (2 × 8), nine interned ids (9 × 4), the quantity's
    /// significand (16) and scale (1), padded to 72.
    static let recordSize = 72
    private let file: TemporaryFile
    /// Per UTC day (days since the epoch): the (byte offset, record count) segments holding its cells.
    private(set) var segments: [Int64: [(offset: Int, count: Int)]] = [:]
    /// Records written in all.
    private(set) var records = 0
    /// Bytes appended (written, or being written behind).
    private var size = 0
    /// The batch being written behind, and how its write ended.
    private final class Batch: @unchecked Sendable {
        let bytes = AlignedBytes(capacity: 0)
        var error: (any Error)?
    }
    /// Where records are read back (1 MiB, block-aligned), made on the first read.
    private var readBuffer: AlignedBytes?
    private let writer = DispatchQueue(label: "reckon.cell-spill")
    private let writing = DispatchGroup()
    private let batch = Batch()

    /// Creates the temporary file in `folder` (created if missing).
    init(folder: String) throws {
        file = try TemporaryFile(folder: folder, purpose: "the estimate's cells", direct: true)
    }

    /// The UTC day of a charge period start (floor division: days before 1970 are negative).
    @inline(__always)
    static func day(_ chargeStart: Int64) -> Int64 { chargeStart >= 0 ? chargeStart / 86_400 : (chargeStart - 86_399) / 86_400 }

    /// Appends `cells` as one batch, grouped by day.
    /// - Complexity: O(n log n) for the grouping sort; O(n) bytes written.
    func append(_ cells: CellTable) throws {
        guard !cells.isEmpty else { return }
        var byDay = cells.map { (day: Self.day($0.key.chargeStart), key: $0.key, value: $0.value) }
        byDay.sort { $0.day < $1.day }
        // The previous batch's write has to finish before its buffer is reused.
        try finishWrites()
        let buffer = batch.bytes
        let count = byDay.count * Self.recordSize
        let padded = (count + DirectIO.block - 1) & -DirectIO.block
        buffer.resize(to: padded)
        (buffer.base + count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - count)
        var segmentDay = byDay[0].day, segmentStart = size, segmentCount = 0
        for (n, e) in byDay.enumerated() {
            if e.day != segmentDay {
                segments[segmentDay, default: []].append((segmentStart, segmentCount))
                segmentDay = e.day
                segmentStart = size + n * Self.recordSize
                segmentCount = 0
            }
            Self.encode(e.key, e.value, into: buffer.base + n * Self.recordSize)
            segmentCount += 1
        }
        segments[segmentDay, default: []].append((segmentStart, segmentCount))
        records += byDay.count
        size += padded
        let (file, batch) = (self.file, self.batch)
        writer.async(group: writing) {
            do { try file.appendBlocks(UnsafeRawBufferPointer(start: buffer.base, count: padded)) } catch {
                batch.error = error
            }
        }
    }

    /// Waits for the batch being written behind; throws its write's error.
    func finishWrites() throws {
        writing.wait()
        if let e = batch.error { throw e }
    }

    /// Calls `body` with every record of `day`, in the order written.
    func forEach(day: Int64, _ body: (EstimatedRowBuilder.Key, ExactDecimal) throws -> Void) throws {
        try finishWrites()
        guard let list = segments[day] else { return }
        let buffer = readBuffer ?? AlignedBytes(capacity: 1 << 20)
        readBuffer = buffer
        let block = DirectIO.block
        for segment in list {
            // Whole blocks around the records (a batch starts on a block and is padded to one),
            // at most a buffer at a time; a record cut by the buffer's end is read again.
            var next = segment.offset, left = segment.count
            while left > 0 {
                let start = next & -block
                let end = min((next + left * Self.recordSize + block - 1) & -block, start + buffer.capacity)
                try file.readBlocks(at: start, into: UnsafeMutableRawBufferPointer(start: buffer.base, count: end - start))
                let n = min(left, (end - next) / Self.recordSize)
                for k in 0..<n {
                    let (key, q) = Self.decode(buffer.base + (next - start) + k * Self.recordSize)
                    try body(key, q)
                }
                next += n * Self.recordSize
                left -= n
            }
        }
    }

    /// Calls `body` with every record, day by day.
    func forEachRecord(_ body: (EstimatedRowBuilder.Key, ExactDecimal) throws -> Void) throws {
        for day in segments.keys.sorted() { try forEach(day: day, body) }
    }

    private static func encode(_ k: EstimatedRowBuilder.Key, _ q: ExactDecimal, into p: UnsafeMutableRawPointer) {
        p.storeBytes(of: k.chargeStart, toByteOffset: 0, as: Int64.self)
        p.storeBytes(of: k.chargeEnd, toByteOffset: 8, as: Int64.self)
        p.storeBytes(of: k.billingAccount, toByteOffset: 16, as: Int32.self)
        p.storeBytes(of: k.subAccount, toByteOffset: 20, as: Int32.self)
        p.storeBytes(of: k.provider, toByteOffset: 24, as: Int32.self)
        p.storeBytes(of: k.model, toByteOffset: 28, as: Int32.self)
        p.storeBytes(of: k.reportedModel, toByteOffset: 32, as: Int32.self)
        p.storeBytes(of: k.meter, toByteOffset: 36, as: Int32.self)
        p.storeBytes(of: k.tier, toByteOffset: 40, as: Int32.self)
        p.storeBytes(of: k.rate, toByteOffset: 44, as: Int32.self)
        p.storeBytes(of: k.tags, toByteOffset: 48, as: Int32.self)
        p.storeBytes(of: UInt64(truncatingIfNeeded: q.significand), toByteOffset: 52, as: UInt64.self)
        p.storeBytes(of: Int64(truncatingIfNeeded: q.significand >> 64), toByteOffset: 60, as: Int64.self)
        p.storeBytes(of: UInt8(q.scale), toByteOffset: 68, as: UInt8.self)
    }

    private static func decode(_ p: UnsafeRawPointer) -> (EstimatedRowBuilder.Key, ExactDecimal) {
        func id(_ i: Int) -> Int32 { p.loadUnaligned(fromByteOffset: 16 + 4 * i, as: Int32.self) }
        let key = EstimatedRowBuilder.Key(
            chargeStart: p.loadUnaligned(fromByteOffset: 0, as: Int64.self), chargeEnd: p.loadUnaligned(fromByteOffset: 8, as: Int64.self),
            billingAccount: id(0), subAccount: id(1), provider: id(2), model: id(3), reportedModel: id(4), meter: id(5), tier: id(6),
            rate: id(7), tags: id(8))
        let low = p.loadUnaligned(fromByteOffset: 52, as: UInt64.self)
        let high = p.loadUnaligned(fromByteOffset: 60, as: Int64.self)
        let significand = Int128(high) << 64 | Int128(low)
        return (key, ExactDecimal(significand: significand, scale: Int(p.load(fromByteOffset: 68, as: UInt8.self))))
    }
}
