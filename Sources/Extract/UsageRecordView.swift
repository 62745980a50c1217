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
    /// A CSV boundary is a line feed outside quotes (RFC 4180 doubles a quote inside a quoted
    /// field, so an odd count of quote characters before a byte means "inside quotes"). In JSONL
    /// every line feed is a boundary (JSON strings cannot hold a raw one). Where the parts would
    /// split the file, line feeds and quotes before that place are counted first, in pieces on
    /// all threads at once (counts of consecutive pieces add up, so the pieces need nothing from
    /// each other); then the file is read on from each place up to the first record that begins
    /// a block (`firstCut`). All of it runs before the parts start; until session 10 one thread
    /// read half the file for it.
    /// - Complexity: O(bytes before the last cut) counted on all threads, plus O(a block of lines)
    ///   read per cut; one 1 MiB buffer a thread.
    public func parts(_ n: Int, minimumBytes: Int, segmentLines: Int) throws -> [(range: Range<Int>, firstLine: Int)] {
        let whole = [(range: 0..<size, firstLine: 1)]
        let count = min(n, size / max(minimumBytes, 1))
        // A file that broke off when extract read it is read whole: its records end at the break.
        guard count > 1, complete else { return whole }
        if try ByteStream(path: file).isGzip { return whole }
        let targets = (1..<count).map { size * $0 / count }
        // Two pieces between consecutive targets, so that two threads share even a single target.
        var bounds = [0]
        for t in targets { bounds += [(bounds.last! + t) / 2, t] }
        let (path, edges, jsonl) = (file, bounds, format == GenericUsage.kindJSONL)
        let counted = try concurrentMap(bounds.count - 1) { k in
            try Self.countLineFeedsAndQuotes(path: path, range: edges[k]..<edges[k + 1], quotes: !jsonl)
        }
        var cuts: [(offset: Int, line: Int)] = []
        var newlines = 0, quotes = 0, piece = 0
        for t in targets {
            while bounds[piece] < t {
                newlines += counted[piece].lineFeeds
                quotes &+= counted[piece].quotes
                piece += 1
            }
            guard let cut = try firstCut(from: t, newlines: newlines, quotes: quotes, segmentLines: segmentLines) else { break }
            if cut.offset > (cuts.last?.offset ?? 0) { cuts.append(cut) }
        }
        var out: [(range: Range<Int>, firstLine: Int)] = []
        var start = 0, line = 1
        for c in cuts where c.offset < size {
            out.append((start..<c.offset, line))
            (start, line) = (c.offset, c.line)
        }
        out.append((start..<size, line))
        return out
    }

    /// The first record at or after byte `from` that begins a new block of `segmentLines` lines:
    /// its offset and line. `newlines` and `quotes` are the line feeds and quote characters
    /// before `from`. `nil` when none does before the end of the file.
    ///
    /// The record under way at `from` is taken to have started on the line `from` is on: it
    /// started there or earlier, so a cut found is always a block's first record; at worst a
    /// record spanning lines across a block's start is passed over for the next one.
    private func firstCut(from: Int, newlines: Int, quotes: Int, segmentLines: Int) throws -> (offset: Int, line: Int)? {
        let jsonl = format == GenericUsage.kindJSONL
        let stream = try ByteStream(path: file, range: from..<size)
        let block = max(1, segmentLines)
        var (newlines, quotes, offset) = (newlines, quotes, from)
        var recordBlock = newlines / block   // the block of the line the current record starts on
        var cut: (offset: Int, line: Int)?
        /// A line feed at `at` that ends a record: the cut, when a block starts on the next line.
        func recordEnds(at: Int) -> Bool {
            newlines += 1
            let next = newlines / block
            if next != recordBlock {
                cut = (at + 1, newlines + 1)
                return true
            }
            recordBlock = next
            return false
        }
        while cut == nil, try stream.next({ (chunk: UnsafeRawBufferPointer) -> Bool in
            if jsonl {
                // Every line feed ends a record: found by memchr (vectorised).
                let base = chunk.baseAddress!
                var i = 0
                while i < chunk.count, let p = memchr(base + i, 0x0A, chunk.count - i) {
                    i = UnsafeRawPointer(p) - base
                    if recordEnds(at: offset + i) { break }
                    i += 1
                }
                offset += chunk.count
                return true
            }
            for i in 0..<chunk.count {
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
        return cut
    }

    /// Line feeds and quote characters (quotes only when `quotes`: JSONL needs none) in `range` of
    /// the plain file at `path`.
    /// - Complexity: O(range.count); one 1 MiB buffer.
    static func countLineFeedsAndQuotes(path: String, range: Range<Int>, quotes countQuotes: Bool) throws -> (lineFeeds: Int, quotes: Int) {
        var lineFeeds = 0, quotes = 0
        let stream = try ByteStream(path: path, range: range)
        while try stream.next({ (chunk: UnsafeRawBufferPointer) -> Bool in
            lineFeeds += count(0x0A, in: chunk)
            if countQuotes { quotes += count(0x22, in: chunk) }
            return true
        }) != nil {}
        return (lineFeeds, quotes)
    }

    /// The bytes of `bytes` equal to `c`: `memchr` from one to the next (vectorised) while they
    /// are sparse — a CSV's line feeds, a JSONL file's, quotes that are rare — and past one in 32
    /// bytes eight bytes at a time, where a call per byte found would cost more.
    static func count(_ c: UInt8, in bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        var n = 0, i = 0
        let sparse = bytes.count / 32
        while n < sparse, i < bytes.count, let p = memchr(base + i, Int32(c), bytes.count - i) {
            n += 1
            i = UnsafeRawPointer(p) - base + 1
        }
        guard n >= sparse else { return n }
        // Exactly: a byte's high bit is set in `t` iff the byte of `x` is zero (adding 0x7F to
        // its low seven bits cannot carry into the next byte).
        let pattern = UInt64(c) &* 0x0101_0101_0101_0101
        while i + 8 <= bytes.count {
            let x = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ pattern
            let t = ~(((x & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F) | x | 0x7F7F_7F7F_7F7F_7F7F)
            n += t.nonzeroBitCount
            i += 8
        }
        while i < bytes.count {
            if bytes[i] == c { n += 1 }
            i += 1
        }
        return n
    }

    public func checkCount(_ passed: Int) throws {
        guard passed == rowsOut else {
            throw ReckonError(.badData, "extract accepted \(rowsOut) records from this file, transform read \(passed): rerun reckon-extract",
                              at: SourcePosition(file: file))
        }
    }
}
