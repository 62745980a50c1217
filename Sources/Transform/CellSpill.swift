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
/// caller prices on (with one pricing thread the other core is otherwise idle; the kernel's copy
/// into page-cache pages is slow on this VM: 0.15 s of a 0.5 s pricing phase at 1 M records).
/// Reading waits for the writes.
/// - Memory: the segment index (a few entries per day and batch), one batch's encoded records
///   being written (72 bytes a cell: ~4.7 MB for the default 65,536 cells) and the one being
///   encoded; records are read back through a 72 KiB buffer (1,024 records).
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
        var bytes: [UInt8] = []
        var error: (any Error)?
    }
    private let writer = DispatchQueue(label: "reckon.cell-spill")
    private let writing = DispatchGroup()
    private let batch = Batch()

    /// Creates the temporary file in `folder` (created if missing).
    init(folder: String) throws {
        file = try TemporaryFile(folder: folder, purpose: "the estimate's cells")
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
        var buffer: [UInt8] = []
        swap(&buffer, &batch.bytes)
        let count = byDay.count * Self.recordSize
        if buffer.count < count { buffer = [UInt8](repeating: 0, count: count) }
        var segmentDay = byDay[0].day, segmentStart = size, segmentCount = 0
        buffer.withUnsafeMutableBytes { out in
            for (n, e) in byDay.enumerated() {
                if e.day != segmentDay {
                    segments[segmentDay, default: []].append((segmentStart, segmentCount))
                    segmentDay = e.day
                    segmentStart = size + n * Self.recordSize
                    segmentCount = 0
                }
                Self.encode(e.key, e.value, into: out.baseAddress! + n * Self.recordSize)
                segmentCount += 1
            }
        }
        segments[segmentDay, default: []].append((segmentStart, segmentCount))
        records += byDay.count
        size += count
        batch.bytes = buffer
        let (file, batch) = (self.file, self.batch)
        writer.async(group: writing) {
            do { try batch.bytes.withUnsafeBytes { try file.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) } } catch {
                batch.error = error
            }
        }
    }

    /// Waits for the batch being written behind; throws its write's error.
    private func finishWrites() throws {
        writing.wait()
        if let e = batch.error { throw e }
    }

    /// Calls `body` with every record of `day`, in the order written.
    func forEach(day: Int64, _ body: (EstimatedRowBuilder.Key, ExactDecimal) throws -> Void) throws {
        try finishWrites()
        guard let list = segments[day] else { return }
        var buffer = [UInt8](repeating: 0, count: 1024 * Self.recordSize)
        for segment in list {
            var done = 0
            while done < segment.count {
                let n = min(segment.count - done, 1024)
                let offset = segment.offset + done * Self.recordSize
                try buffer.withUnsafeMutableBytes { raw in
                    try file.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<(n * Self.recordSize)]))
                }
                try buffer.withUnsafeBytes { raw in
                    for k in 0..<n {
                        let (key, q) = Self.decode(raw.baseAddress! + k * Self.recordSize)
                        try body(key, q)
                    }
                }
                done += n
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
