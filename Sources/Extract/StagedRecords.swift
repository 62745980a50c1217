#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ReckonCore

/// The generic-format records extract accepted, staged once in a compact binary form
/// (`staging/extract/usage_records.bin`) so that transform prices them without parsing the
/// export a second time. About 17 bytes a record on the benchmark's generated data (165 MB for 10 M
/// records, from a 1.37 GB CSV): strings that repeat are written once per segment, numbers as
/// variable-length integers.
///
/// **File**: segments one after another, each a 32-byte header and a payload. Header, little-
/// endian: magic `RKREC001` (8 bytes), source index among `usage_sources.jsonl` (4), records (4),
/// line of the first record (8), payload bytes (8).
///
/// **Segments** start at the first record of each block of `segmentLines` lines of a file (and
/// when a payload passes 8 MiB). Extract's parallel parts start only at such records, so the file
/// is the same bytes whatever the number of threads; transform divides its threads and shards by
/// segments.
///
/// **Record** (payload): line − previous line (varint); flags (bit 0 a timestamp, not a period;
/// bit 1 the dimensions follow, else their number; bit 2 trace ids follow; bit 3 the record has
/// tags; bit 4 its tag set follows, else its number); start − previous start (zig-zag varint,
/// seconds); for a period its length in seconds; the dimensions or their number; the tag set or
/// its number; the trace ids; the quantities.
/// - Dimensions: provider, billing account, sub-account, model, service tier, each a piece (0 =
///   absent, else length + 1, then the bytes); batch (0 absent, 1 false, 2 true). Numbered in
///   order of appearance within the segment, as are tag sets.
/// - Tag set: the count, then each tag's JSON-encoded key and its value as pieces.
/// - Trace ids: a bit mask of execution, span, parent span, agent; each present one a piece. The
///   request id is not staged: extract has used it (repeats), nothing after it does.
/// - Quantities: a bit mask of the meter slots with a non-zero quantity (a zero is not staged:
///   it is priced as absent); each: scale × 2 + (1 if the significand needs more than 64 bits),
///   the low 64 bits, the high 64 bits when needed (significands are never negative: extract
///   refuses negative quantities).
public enum StagedRecords {
    /// `RKREC001`, read as a little-endian integer.
    static let magic: UInt64 = 0x3130_3043_4552_4B52
    static let headerSize = 32
    /// Lines per segment unless told otherwise (`reckon-extract --segment-lines`).
    public static let defaultSegmentLines = 1 << 17
    /// A segment is closed early when its payload passes this (bounded memory when read back).
    static let maxPayload = 8 << 20

    /// One segment of the file: its source, where its payload is, its records and first line.
    public struct Segment: Sendable, Equatable {
        public let source: Int
        public let payload: Range<Int>
        public let records: Int
        public let firstLine: Int
    }

    /// The segments of the file, in order, from their headers (one 32-byte read each).
    /// - Throws: `.badData` naming the file and offset when a header is damaged or the file ends early.
    public static func segments(path: String) throws -> [Segment] {
        let file = try ReadableFile(path: path)
        var out: [Segment] = []
        var offset = 0
        var header = [UInt8](repeating: 0, count: headerSize)
        while offset < file.size {
            func damaged(_ what: String) -> ReckonError {
                ReckonError(.badData, "staged records are damaged (\(what)): rerun reckon-extract", at: SourcePosition(file: path, byteOffset: offset))
            }
            guard offset + headerSize <= file.size else { throw damaged("a segment header is cut off") }
            try header.withUnsafeMutableBytes { try file.read(at: offset, into: $0) }
            let (mark, source, records, firstLine, length) = header.withUnsafeBytes { h in
                (UInt64(littleEndian: h.loadUnaligned(as: UInt64.self)),
                 Int(UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 8, as: UInt32.self))),
                 Int(UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 12, as: UInt32.self))),
                 Int(truncatingIfNeeded: UInt64(littleEndian: h.loadUnaligned(fromByteOffset: 16, as: UInt64.self))),
                 Int(truncatingIfNeeded: UInt64(littleEndian: h.loadUnaligned(fromByteOffset: 24, as: UInt64.self))))
            }
            guard mark == magic else { throw damaged("no segment header") }
            let start = offset + headerSize
            guard length >= 0, length <= file.size - start, firstLine >= 1 else { throw damaged("a segment is cut off") }
            out.append(Segment(source: source, payload: start..<(start + length), records: records, firstLine: firstLine))
            offset = start + length
        }
        return out
    }

    /// Calls `body` with each record of `segments` (in order; all of one source) as a view, except
    /// the lines listed in `repeats` (a `RepeatedLines` file: records extract quarantined after
    /// reading, as repeats; nil: none).
    /// - Returns: the records passed to `body`.
    /// - Memory: one segment's payload (as extract writes them, at most 8 MiB and one record) and
    ///   its dimensions and tag sets.
    public static func forEachView(path: String, segments: ArraySlice<Segment>, file: String, repeats: String?,
                                   _ body: (UsageRecordView) throws -> Void) throws -> Int {
        guard let first = segments.first else { return 0 }
        let skip = try repeats.map { try RepeatedLines.Cursor(path: $0, source: first.source, from: first.firstLine) }
        let skipping = skip.map { !$0.isDone } ?? false
        let input = try ReadableFile(path: path)
        let context = GenericUsage.FileContext(file: file, defaults: hivePartitions(of: file))
        let builder = GenericRecordBuilder()
        var payload: [UInt8] = []
        var passed = 0
        var decoder = SegmentDecoder()
        for segment in segments {
            if payload.count < segment.payload.count { payload = [UInt8](repeating: 0, count: segment.payload.count) }
            try payload.withUnsafeMutableBytes { buffer in
                let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<segment.payload.count])
                try input.read(at: segment.payload.lowerBound, into: bytes)
                passed += try decoder.decode(UnsafeRawBufferPointer(bytes), segment: segment, path: path, builder: builder) { line, keys in
                    if skipping, try skip!.contains(line) { return false }
                    try body(UsageRecordView(builder: builder, context: context, line: line, stagedKeys: keys))
                    return true
                }
            }
        }
        return passed
    }
}

/// Writes the records one reader (a whole file, or one part of it on a thread) accepts as
/// segments (see `StagedRecords`), handing each finished segment to `sink`.
/// - Memory: one segment's payload (≤ 8 MiB and one record) and its dimension and tag-set tables
///   (≤ 1 MiB each).
final class StagedRecordWriter {
    private let source: UInt32
    private let segmentLines: Int
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    private var payload = ByteBuffer(capacity: 1 << 16)
    private var key = ByteBuffer(capacity: 512)
    /// The segment's dimensions and tag sets so far (by their staged bytes) → their numbers.
    private var dimensions = ExactTextTable<UInt32>(limit: 1 << 14, byteLimit: 1 << 20)
    private var tagSets = ExactTextTable<UInt32>(limit: 1 << 14, byteLimit: 1 << 20)
    private var dimensionCount: UInt32 = 0, tagSetCount: UInt32 = 0
    private var records = 0, firstLine = 0, previousLine = 0, block = -1
    private var previousStart: Int64 = 0

    init(source: Int, segmentLines: Int, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.source = UInt32(truncatingIfNeeded: source)
        self.segmentLines = max(1, segmentLines)
        self.sink = sink
    }

    /// Appends a valid record (its builder as the reader filled it).
    /// - Complexity: O(record bytes); one table lookup for its dimensions, one for its tag set.
    func add(_ b: GenericRecordBuilder, line: Int) throws {
        let lineBlock = (line - 1) / segmentLines
        if records > 0 && (lineBlock != block || payload.count >= StagedRecords.maxPayload) { try finish() }
        if records == 0 {
            (firstLine, previousLine, previousStart, block) = (line, line, 0, lineBlock)
            dimensions = ExactTextTable(limit: 1 << 14, byteLimit: 1 << 20)
            tagSets = ExactTextTable(limit: 1 << 14, byteLimit: 1 << 20)
            (dimensionCount, tagSetCount) = (0, 0)
        }
        records += 1
        typealias F = GenericUsage.Field
        let spans = b.spans
        let (execution, span, parent, agent) = (spans[F.executionId.rawValue], spans[F.spanId.rawValue],
                                                spans[F.parentSpanId.rawValue], spans[F.agent.rawValue])
        let traced = execution != nil || span != nil || parent != nil || agent != nil
        // The dimensions as they would be written: the key of the segment's table.
        key.removeAll()
        key.appendPiece(spans[F.provider.rawValue]); key.appendPiece(spans[F.billingAccount.rawValue])
        key.appendPiece(spans[F.subAccount.rawValue]); key.appendPiece(spans[F.model.rawValue])
        key.appendPiece(spans[F.serviceTier.rawValue])
        key.append(b.batch.map { $0 ? 2 : 1 } ?? 0)
        let knownDimensions = Self.number(of: key, in: &dimensions, next: &dimensionCount)
        let start = (b.timestamp ?? b.periodStart!).secondsSinceEpoch
        let tagCount = b.tags.count
        payload.appendVarint(UInt64(line - previousLine))
        previousLine = line
        let flagsAt = payload.count
        payload.append((b.timestamp != nil ? 1 : 0) | (knownDimensions == nil ? 2 : 0) | (traced ? 4 : 0) | (tagCount == 0 ? 0 : 8))
        let delta = start &- previousStart
        payload.appendVarint(UInt64(bitPattern: (delta << 1) ^ (delta >> 63)))
        previousStart = start
        if b.timestamp == nil { payload.appendVarint(UInt64(b.periodEnd!.secondsSinceEpoch - start)) }
        if let knownDimensions { payload.appendVarint(UInt64(knownDimensions)) } else { key.withBytes { payload.append($0) } }
        if tagCount > 0 {
            key.removeAll()
            key.appendVarint(UInt64(tagCount))
            // In place: no copy (and no retain) of the tag array or its keys per record.
            b.tags.withUnsafeBufferPointer { tags in
                for t in tags {
                    key.appendPiece(t.key)
                    key.appendPiece(t.value)
                }
            }
            if let known = Self.number(of: key, in: &tagSets, next: &tagSetCount) { payload.appendVarint(UInt64(known)) } else {
                payload.setByte(at: flagsAt, payload.byte(at: flagsAt) | 16)
                key.withBytes { payload.append($0) }
            }
        }
        if traced {
            payload.append((execution != nil ? 1 : 0) | (span != nil ? 2 : 0) | (parent != nil ? 4 : 0) | (agent != nil ? 8 : 0))
            if let execution { payload.appendPiece(execution) }
            if let span { payload.appendPiece(span) }
            if let parent { payload.appendPiece(parent) }
            if let agent { payload.appendPiece(agent) }
        }
        let quantities = b.quantities
        var mask: UInt64 = 0
        for slot in 0..<F.meterCount where !(quantities[slot]?.isZero ?? true) { mask |= 1 << slot }
        payload.appendVarint(mask)
        var rest = mask
        while rest != 0 {
            let slot = rest.trailingZeroBitCount
            rest &= rest - 1
            let q = quantities[slot]!
            let magnitude = UInt128(q.significand)
            let wide = magnitude >> 64 != 0
            payload.appendVarint(UInt64(q.scale) << 1 | (wide ? 1 : 0))
            payload.appendVarint(UInt64(truncatingIfNeeded: magnitude))
            if wide { payload.appendVarint(UInt64(truncatingIfNeeded: magnitude >> 64)) }
        }
    }

    /// The number `key`'s bytes already have in `table`, or `nil` after giving them the next one.
    /// (In-out access: the table is not copied per record.)
    @inline(__always)
    private static func number(of key: borrowing ByteBuffer, in table: inout ExactTextTable<UInt32>, next: inout UInt32) -> UInt32? {
        key.withBytes { bytes in
            if let known = table.value(bytes) { return known }
            table.keep(bytes, next)
            next += 1
            return nil
        }
    }

    /// Hands the open segment (if any) to the sink.
    func finish() throws {
        guard records > 0 else { return }
        var header = [UInt8](repeating: 0, count: StagedRecords.headerSize)
        header.withUnsafeMutableBytes { h in
            h.storeBytes(of: StagedRecords.magic.littleEndian, toByteOffset: 0, as: UInt64.self)
            h.storeBytes(of: source.littleEndian, toByteOffset: 8, as: UInt32.self)
            h.storeBytes(of: UInt32(truncatingIfNeeded: records).littleEndian, toByteOffset: 12, as: UInt32.self)
            h.storeBytes(of: UInt64(firstLine).littleEndian, toByteOffset: 16, as: UInt64.self)
            h.storeBytes(of: UInt64(payload.count).littleEndian, toByteOffset: 24, as: UInt64.self)
        }
        try header.withUnsafeBytes { try sink($0) }
        try payload.withBytes { try sink($0) }
        payload.removeAll()
        records = 0
    }
}

/// Reads one segment's payload back into a record builder (see `StagedRecords` for the layout).
struct SegmentDecoder {
    /// Per dimensions of the segment: the five pieces (byte spans into the payload) and batch.
    private var pieces: [UnsafeRawBufferPointer?] = []
    private var batches: [Bool?] = []
    /// Per tag set of the segment.
    /// Keys and values point into the segment's bytes.
    private var tagSets: [[(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)]] = []
    /// Decodes every record, calling `accept(line, keys)` with the builder filled; `accept`
    /// returns whether it took the record. - Returns: the records taken.
    /// - Throws: `.badData` naming the file and byte offset when the payload does not decode.
    mutating func decode(_ p: UnsafeRawBufferPointer, segment: StagedRecords.Segment, path: String, builder b: GenericRecordBuilder,
                         _ accept: (Int, UsageRecordView.StagedKeys) throws -> Bool) throws -> Int {
        pieces.removeAll(keepingCapacity: true)
        batches.removeAll(keepingCapacity: true)
        tagSets.removeAll(keepingCapacity: true)
        var c = Cursor(p)
        var line = segment.firstLine, start: Int64 = 0, taken = 0
        var tagsHeld = -2   // the tag set `b.tags` holds (-1: none): assigned only when it changes
        func damaged() -> ReckonError {
            ReckonError(.badData, "staged records are damaged: rerun reckon-extract",
                        at: SourcePosition(file: path, byteOffset: segment.payload.lowerBound + c.offset))
        }
        typealias F = GenericUsage.Field
        let spans = b.spans, quantities = b.quantities
        for _ in 0..<segment.records {
            guard let dl = c.varint(), let flags = c.byte(), let ds = c.varint() else { throw damaged() }
            line &+= Int(truncatingIfNeeded: dl)
            let delta = Int64(bitPattern: ds >> 1) ^ -Int64(bitPattern: ds & 1)
            start &+= delta
            if flags & 1 != 0 {
                b.timestamp = Timestamp(secondsSinceEpoch: start)
                (b.periodStart, b.periodEnd) = (nil, nil)
            } else {
                guard let length = c.varint(), length > 0, length < 1 << 62 else { throw damaged() }
                b.timestamp = nil
                (b.periodStart, b.periodEnd) = (Timestamp(secondsSinceEpoch: start), Timestamp(secondsSinceEpoch: start &+ Int64(length)))
            }
            let definition: Int
            if flags & 2 != 0 {
                definition = batches.count
                for _ in 0..<5 {   // provider, billing account, sub-account, model, service tier
                    guard let piece = c.piece() else { throw damaged() }
                    pieces.append(piece)
                }
                guard let batch = c.byte(), batch <= 2 else { throw damaged() }
                batches.append(batch == 0 ? nil : batch == 2)
            } else {
                guard let d = c.varint(), d < UInt64(batches.count) else { throw damaged() }
                definition = Int(d)
            }
            pieces.withUnsafeBufferPointer { p in
                let at = definition * 5
                (spans[F.provider.rawValue], spans[F.billingAccount.rawValue], spans[F.subAccount.rawValue], spans[F.model.rawValue],
                 spans[F.serviceTier.rawValue]) = (p[at], p[at + 1], p[at + 2], p[at + 3], p[at + 4])
            }
            b.batch = batches[definition]
            var tagSet = -1
            if flags & 8 == 0 {
                if tagsHeld != -1 { b.tags = []; tagsHeld = -1 }
            } else if flags & 16 != 0 {
                guard let n = c.varint(), n > 0, n <= UInt64(c.remaining) else { throw damaged() }
                var t: [(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)] = []
                t.reserveCapacity(Int(n))
                for _ in 0..<n {
                    guard let k = c.piece(), let k, let v = c.piece(), let v else { throw damaged() }
                    t.append((k, v))
                }
                tagSet = tagSets.count
                tagSets.append(t)
                b.tags = t
                tagsHeld = tagSet
            } else {
                guard let d = c.varint(), d < UInt64(tagSets.count) else { throw damaged() }
                tagSet = Int(d)
                if tagSet != tagsHeld { b.tags = tagSets[tagSet]; tagsHeld = tagSet }
            }
            if flags & 4 != 0 {
                guard let mask = c.byte(), mask < 16 else { throw damaged() }
                func trace(_ bit: UInt8) throws -> UnsafeRawBufferPointer? {
                    guard mask & bit != 0 else { return nil }
                    guard let piece = c.piece(), let piece else { throw damaged() }
                    return piece
                }
                spans[F.executionId.rawValue] = try trace(1)
                spans[F.spanId.rawValue] = try trace(2)
                spans[F.parentSpanId.rawValue] = try trace(4)
                spans[F.agent.rawValue] = try trace(8)
            } else {
                (spans[F.executionId.rawValue], spans[F.spanId.rawValue], spans[F.parentSpanId.rawValue], spans[F.agent.rawValue]) = (nil, nil, nil, nil)
            }
            guard let mask = c.varint(), mask >> F.meterCount == 0 else { throw damaged() }
            for slot in 0..<F.meterCount {
                guard mask & (1 << slot) != 0 else { quantities[slot] = nil; continue }
                guard let head = c.varint(), head >> 1 <= UInt64(ExactDecimal.maxScale), let low = c.varint() else { throw damaged() }
                var magnitude = UInt128(low)
                if head & 1 != 0 {
                    guard let high = c.varint(), high >> 63 == 0 else { throw damaged() }
                    magnitude |= UInt128(high) << 64
                }
                quantities[slot] = ExactDecimal(significand: Int128(magnitude), scale: Int(head >> 1))
            }
            if try accept(line, UsageRecordView.StagedKeys(segment: segment.payload.lowerBound, dimensions: definition, tagSet: tagSet)) { taken += 1 }
        }
        guard c.remaining == 0 else { throw damaged() }
        return taken
    }

    /// Reads variable-length integers and pieces from a payload, refusing to read past its end.
    struct Cursor {
        let base: UnsafeRawBufferPointer
        private(set) var offset = 0
        init(_ base: UnsafeRawBufferPointer) { self.base = base }
        var remaining: Int { base.count - offset }

        @inline(__always)
        mutating func byte() -> UInt8? {
            guard offset < base.count else { return nil }
            defer { offset += 1 }
            return base[offset]
        }

        /// LEB128: seven bits a byte, low bits first; at most ten bytes.
        @inline(__always)
        mutating func varint() -> UInt64? {
            var v: UInt64 = 0, shift: UInt64 = 0
            while offset < base.count, shift < 64 {
                let b = base[offset]
                offset += 1
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
            }
            return nil
        }

        /// A piece: `.some(nil)` when absent, the bytes otherwise; `nil` when the payload is damaged.
        @inline(__always)
        mutating func piece() -> UnsafeRawBufferPointer?? {
            guard let n = varint() else { return nil }
            if n == 0 { return .some(nil) }
            guard n - 1 <= UInt64(remaining) else { return nil }
            let bytes = UnsafeRawBufferPointer(rebasing: base[offset..<(offset + Int(n - 1))])
            offset += Int(n - 1)
            return .some(bytes)
        }
    }
}

extension ByteBuffer {
    /// LEB128: seven bits a byte, low bits first.
    @inline(__always)
    mutating func appendVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(truncatingIfNeeded: v))
    }

    /// A piece of `StagedRecords`: 0 when absent, else length + 1 and the bytes.
    @inline(__always)
    mutating func appendPiece(_ bytes: UnsafeRawBufferPointer?) {
        guard let bytes else { append(0); return }
        appendVarint(UInt64(bytes.count) + 1)
        append(bytes)
    }
}
