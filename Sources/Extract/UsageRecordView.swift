#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ReckonCore

/// A generic-format record as it sits in the reader's buffer: byte spans and parsed numbers,
/// no strings made. Valid only inside the callback that receives it. Transform prices these
/// without building a `UsageRecord` per record; `makeRecord()` is there when one is needed.
public struct UsageRecordView {
    /// The string fields a view exposes as bytes.
    public enum Field: Sendable {
        case provider, billingAccount, subAccount, model, serviceTier, requestId, executionId, spanId, parentSpanId, agent

        var generic: GenericUsage.Field {
            switch self {
            case .provider: return .provider
            case .billingAccount: return .billingAccount
            case .subAccount: return .subAccount
            case .model: return .model
            case .serviceTier: return .serviceTier
            case .requestId: return .requestId
            case .executionId: return .executionId
            case .spanId: return .spanId
            case .parentSpanId: return .parentSpanId
            case .agent: return .agent
            }
        }
    }

    @usableFromInline let builder: GenericRecordBuilder
    let context: GenericUsage.FileContext
    /// The line the record starts on.
    public let line: Int
    /// For a record read back from extract's staged records: its segment (where the segment's
    /// records start in the staged file, so unique within it), and the numbers
    /// of its dimensions (provider, accounts, model, tier, batch flag) and of its tag set (-1 when
    /// none) in that segment. Records with equal keys have equal values, so what those resolve to
    /// can be kept per key. `nil` for a record read from an export.
    public let stagedKeys: StagedKeys?

    public struct StagedKeys {
        public let segment: Int
        public let dimensions: Int
        public let tagSet: Int
    }

    init(builder: GenericRecordBuilder, context: GenericUsage.FileContext, line: Int, stagedKeys: StagedKeys? = nil) {
        self.builder = builder
        self.context = context
        self.line = line
        self.stagedKeys = stagedKeys
    }

    public var file: String { context.file }

    /// The field's bytes, or `nil` when absent (provider and billing account may then come from
    /// `defaultProvider` / `defaultBillingAccount`, the file's folder names).
    public func bytes(_ f: Field) -> UnsafeRawBufferPointer? { builder.spans[f.generic.rawValue] }

    public var defaultProvider: String? { context.providerName }
    public var defaultBillingAccount: String? { context.billingAccountName }
    public var batch: Bool? { builder.batch }
    public var periodStart: Timestamp { builder.timestamp ?? builder.periodStart! }
    public var periodEnd: Timestamp { builder.timestamp ?? builder.periodEnd! }
    /// One request (a `timestamp`) rather than a bucket (`period_start` + `period_end`).
    public var isSingleRequest: Bool { builder.timestamp != nil }

    /// The canonical meter id of each quantity slot (`tokens_input`, `tokens_output`, …).
    public static var meterIds: [String] { GenericUsage.meterIds }
    /// The quantity in meter slot `k` (`nil` when absent).
    @inlinable
    public func quantity(_ k: Int) -> ExactDecimal? { builder.quantities[k] }
    /// Slots of the meters that make up the prompt (uncached input, cache reads, cache writes).
    public static let promptSlots: [Int] = [GenericUsage.Field.inputTokens, .cacheReadTokens, .cacheWrite5mTokens, .cacheWrite1hTokens]
        .map(\.meterSlot)
    /// `promptSlots` as a tuple: read on every record by every pricing thread, where a shared
    /// array's reference count would be one cache line the threads fight over.
    @usableFromInline static let promptSlotTuple = (promptSlots[0], promptSlots[1], promptSlots[2], promptSlots[3])
    /// The prompt's tokens: the sum of the `promptSlots` quantities that are present.
    @inlinable
    public var promptTokens: ExactDecimal {
        let s = Self.promptSlotTuple, q = builder.quantities
        var t = ExactDecimal.zero
        if let x = q[s.0] { t += x }
        if let x = q[s.1] { t += x }
        if let x = q[s.2] { t += x }
        if let x = q[s.3] { t += x }
        return t
    }

    /// Tags as (key encoded as a JSON string with its quotes, value bytes), in file order.
    @inlinable
    public var tagCount: Int { builder.tags.count }
    public func tag(_ k: Int) -> (encodedKey: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) { let t = builder.tags[k]; return (t.key, t.value) }
    /// Each tag's key (JSON-encoded, with its quotes) and value bytes, in file order, without
    /// copying or retaining anything per tag.
    @inlinable
    public func forEachTag(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) rethrows {
        try builder.tags.withUnsafeBufferPointer { tags in
            for t in tags { try body(t.key, t.value) }
        }
    }

    /// The record with its strings made.
    public func makeRecord() -> UsageRecord { builder.makeRecord(line: line, context: context) }
}

extension GenericSource {
    /// Byte ranges of about `size / n` bytes that each start at a record boundary, with the line
    /// each starts on, for validating a large uncompressed CSV or JSONL export in parallel (`n`
    /// parts at most; one part when the file is compressed, smaller than `minimumBytes` a part, or
    /// broke off when extract read it). A part starts only at a record that begins a new block of
    /// `segmentLines` lines, where the staged records start a segment anyway (see `StagedRecords`):
    /// the staged bytes do not depend on the parts.
    ///
    /// A CSV boundary is a line feed outside quotes: one pass over the file counts line feeds and
    /// quote characters (RFC 4180 doubles a quote inside a quoted field, so an odd count means
    /// "inside quotes"). In JSONL every line feed is a boundary (JSON strings cannot hold a raw
    /// one). O(bytes), one 1 MiB buffer.
    public func parts(_ n: Int, minimumBytes: Int, segmentLines: Int) throws -> [(range: Range<Int>, firstLine: Int)] {
        let whole = [(range: 0..<size, firstLine: 1)]
        let count = min(n, size / max(minimumBytes, 1))
        // A file that broke off when extract read it is read whole: its records end at the break.
        guard count > 1, complete else { return whole }
        let jsonl = format == GenericUsage.kindJSONL
        let stream = try ByteStream(path: file)
        if stream.isGzip { return whole }
        let block = max(1, segmentLines)
        var targets = (1..<count).map { size * $0 / count }[...]
        var cuts: [(offset: Int, line: Int)] = []
        var offset = 0, newlines = 0, quotes = 0
        var recordBlock = 0   // the block of the line the current record starts on
        /// Whether any byte of `w` is `c` (the classic has-zero-byte test on `w ^ c…c`).
        @inline(__always) func has(_ w: UInt64, _ c: UInt64) -> Bool {
            let x = w ^ (c &* 0x0101_0101_0101_0101)
            return (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080 != 0
        }
        /// A line feed at `at` that ends a record: cuts there when a staged segment starts on the
        /// next line and a target is passed; `true` once every target has its cut.
        func recordEnds(at: Int) -> Bool {
            newlines += 1
            // The next record starts on line newlines + 1.
            let next = newlines / block
            if next != recordBlock, let t = targets.first, at >= t {
                cuts.append((at + 1, newlines + 1))
                while let t2 = targets.first, t2 <= at { targets.removeFirst() }
                if targets.isEmpty { return true }
            }
            recordBlock = next
            return false
        }
        while !targets.isEmpty, try stream.next({ (chunk: UnsafeRawBufferPointer) -> Bool in
            var i = 0
            if jsonl {
                // Line feeds only, found by memchr (vectorised; several times the word loop's speed
                // on JSONL's long lines). This pass runs before the parts start: it is serial time.
                let base = chunk.baseAddress!
                while i < chunk.count, let p = memchr(base + i, 0x0A, chunk.count - i) {
                    i = UnsafeRawPointer(p) - base
                    if recordEnds(at: offset + i) { break }
                    i += 1
                }
                offset += chunk.count
                return true
            }
            while i < chunk.count {
                // Eight bytes at a time past the ones that hold neither a line feed nor a quote.
                if i + 8 <= chunk.count {
                    let w = UInt64(littleEndian: chunk.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                    if !has(w, 0x0A) && !has(w, 0x22) { i += 8; continue }
                }
                defer { i += 1 }
                let b = chunk[i]
                if b == 0x22 {
                    quotes &+= 1
                } else if b == 0x0A && quotes & 1 == 0 {
                    if recordEnds(at: offset + i) { break }
                } else if b == 0x0A {
                    newlines += 1
                }
            }
            offset += chunk.count
            return true
        }) != nil {}
        var out: [(range: Range<Int>, firstLine: Int)] = []
        var start = 0, line = 1
        for c in cuts where c.offset < size {
            out.append((start..<c.offset, line))
            (start, line) = (c.offset, c.line)
        }
        out.append((start..<size, line))
        return out
    }

    public func checkCount(_ passed: Int) throws {
        guard passed == rowsOut else {
            throw ReckonError(.badData, "extract accepted \(rowsOut) records from this file, transform read \(passed): rerun reckon-extract",
                              at: SourcePosition(file: file))
        }
    }
}
