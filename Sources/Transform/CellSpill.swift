import Dispatch
import ReckonCore

/// Output cells moved out of memory when the estimate's cell table reaches its budget
/// (`EstimatedRowBuilder.limitCells`): a `TemporaryFile` (unnamed, so a killed run leaves nothing
/// behind) of compact records, written in batches grouped by the UTC day of the cell's charge
/// period start, with where each day's records of each batch are.
///
/// The rows come out ordered by charge period start first, so the final pass reads one day at a
/// time from every spill, sums that day's cells and sorts them: memory is bounded by the largest
/// day's distinct rows, not by the month's.
///
/// A record is ~18 bytes (at most `maxRecord`): the charge period as two zigzag varints (its start
/// from the day's start, its length beyond 24 hours: one byte each for a daily cell), the nine ids
/// as zigzag varints (one or two bytes each; none is -1), the quantity's significand as a zigzag
/// varint and its scale as a byte. Fixed 72-byte records made a 10 M-record run spill 1.43 GB;
/// the spill shares the disk with the 4 GB estimate being written, and the write phase was bound
/// by it.
///
/// A batch is encoded on the caller's thread and written behind on a thread of its own while the
/// caller prices on (with one pricing thread the other core is otherwise idle). Batches are
/// padded to whole 4 KiB blocks and written and read with `O_DIRECT` where the file system allows
/// (`TemporaryFile.appendBlocks`): the kernel's copy into page-cache pages is slow on this VM —
/// strace timed 1.43 s of buffered `pwrite` for the 1.43 GB spilled then. Reading waits for the
/// writes.
/// - Memory: the segment index (a few entries per day and batch), one batch's encoded records
///   (room for `maxRecord` bytes a cell: ~5.6 MB for the default 65,536 cells) and the grouping
///   sort's copy of the cells; records are read back through a 1 MiB buffer.
final class CellSpill: @unchecked Sendable {
    /// The longest record: two 64-bit and nine 32-bit varints, a 128-bit one and the scale byte.
    static let maxRecord = 2 * 10 + 9 * 5 + 19 + 1
    /// A run of one day's records in one batch.
    struct Segment {
        /// Byte offset of the first record, and of the end of the last.
        var offset: Int, end: Int
        var count: Int
    }
    private let file: TemporaryFile
    /// Per UTC day (days since the epoch): the segments holding its cells, in the order written.
    private(set) var segments: [Int64: [Segment]] = [:]
    /// Records written in all.
    private(set) var records = 0
    /// Bytes of records written in all (without the padding).
    private(set) var recordBytes = 0
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
        buffer.resize(to: byDay.count * Self.maxRecord + DirectIO.block)
        var at = 0
        var segment = (day: byDay[0].day, start: 0, count: 0)
        for e in byDay {
            if e.day != segment.day {
                segments[segment.day, default: []].append(Segment(offset: size + segment.start, end: size + at, count: segment.count))
                segment = (e.day, at, 0)
            }
            at += Self.encode(e.key, e.value, day: e.day, into: buffer.base + at)
            segment.count += 1
        }
        segments[segment.day, default: []].append(Segment(offset: size + segment.start, end: size + at, count: segment.count))
        let padded = (at + DirectIO.block - 1) & -DirectIO.block
        (buffer.base + at).initializeMemory(as: UInt8.self, repeating: 0, count: padded - at)
        records += byDay.count
        recordBytes += at
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
            // Whole blocks around the records (a batch starts on a block and is padded to one), at
            // most a buffer at a time; a record that may run past the buffer's end is read again
            // with the next buffer.
            var next = segment.offset, left = segment.count
            while left > 0 {
                let start = next & -block
                let readEnd = min((segment.end + block - 1) & -block, start + buffer.capacity)
                try file.readBlocks(at: start, into: UnsafeMutableRawBufferPointer(start: buffer.base, count: readEnd - start))
                let whole = readEnd >= segment.end
                while left > 0 && (whole || next + Self.maxRecord <= readEnd) {
                    let (key, q, n) = Self.decode(buffer.base + (next - start), day: day)
                    try body(key, q)
                    next += n
                    left -= 1
                }
            }
            guard next == segment.end else {
                throw ReckonError(.io, "the estimate's spilled cells do not read back as written (\(next - segment.offset) of \(segment.end - segment.offset) bytes)",
                                  at: SourcePosition(file: file.folder))
            }
        }
    }

    /// Calls `body` with every record, day by day.
    func forEachRecord(_ body: (EstimatedRowBuilder.Key, ExactDecimal) throws -> Void) throws {
        for day in segments.keys.sorted() { try forEach(day: day, body) }
    }

    /// Writes `v` as a LEB128 varint at `p`; returns the bytes written (1–19 for a `UInt128`).
    @inline(__always)
    private static func putVarint<T: UnsignedInteger & FixedWidthInteger>(_ v: T, _ p: UnsafeMutableRawPointer) -> Int {
        var v = v, n = 0
        while v >= 0x80 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: n, as: UInt8.self)
            v >>= 7
            n += 1
        }
        p.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: n, as: UInt8.self)
        return n + 1
    }

    @inline(__always)
    private static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

    @inline(__always)
    private static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

    /// Encodes one cell at `p` (room for `maxRecord` bytes); returns its length.
    private static func encode(_ k: EstimatedRowBuilder.Key, _ q: ExactDecimal, day: Int64, into p: UnsafeMutableRawPointer) -> Int {
        var n = putVarint(zigzag(k.chargeStart &- day &* 86_400), p)
        n += putVarint(zigzag(k.chargeEnd &- k.chargeStart &- 86_400), p + n)
        @inline(__always) func id(_ i: Int32) { n += putVarint(zigzag(Int64(i)), p + n) }
        id(k.billingAccount); id(k.subAccount); id(k.provider); id(k.model); id(k.reportedModel); id(k.meter); id(k.tier)
        id(k.rate); id(k.tags)
        let s = q.significand
        n += putVarint(UInt128(bitPattern: (s << 1) ^ (s >> 127)), p + n)
        p.storeBytes(of: UInt8(q.scale), toByteOffset: n, as: UInt8.self)
        return n + 1
    }

    /// Decodes the cell at `p` written by `encode` for `day`; returns it and its length.
    @inline(__always)
    private static func decode(_ p: UnsafeRawPointer, day: Int64) -> (EstimatedRowBuilder.Key, ExactDecimal, Int) {
        var n = 0
        @inline(__always) func varint() -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                let b = p.load(fromByteOffset: n, as: UInt8.self)
                n += 1
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }
        @inline(__always) func id() -> Int32 { Int32(truncatingIfNeeded: unzigzag(varint())) }
        let start = day &* 86_400 &+ unzigzag(varint())
        let end = start &+ 86_400 &+ unzigzag(varint())
        let key = EstimatedRowBuilder.Key(chargeStart: start, chargeEnd: end, billingAccount: id(), subAccount: id(), provider: id(),
                                          model: id(), reportedModel: id(), meter: id(), tier: id(), rate: id(), tags: id())
        var v: UInt128 = 0, shift: UInt128 = 0
        while true {
            let b = p.load(fromByteOffset: n, as: UInt8.self)
            n += 1
            v |= UInt128(b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
        }
        let significand = Int128(bitPattern: v >> 1) ^ -Int128(bitPattern: v & 1)
        let scale = Int(p.load(fromByteOffset: n, as: UInt8.self))
        return (key, ExactDecimal(significand: significand, scale: scale), n + 1)
    }
}
