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

    let builder: GenericRecordBuilder
    let context: GenericUsage.FileContext
    /// The line the record starts on.
    public let line: Int

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
    public func quantity(_ k: Int) -> ExactDecimal? { builder.quantities[k] }
    /// Slots of the meters that make up the prompt (uncached input, cache reads, cache writes).
    public static let promptSlots: [Int] = [GenericUsage.Field.inputTokens, .cacheReadTokens, .cacheWrite5mTokens, .cacheWrite1hTokens]
        .map(\.meterSlot)

    /// Tags as (key encoded as a JSON string with its quotes, value bytes), in file order.
    public var tagCount: Int { builder.tags.count }
    public func tag(_ k: Int) -> (encodedKey: [UInt8], value: UnsafeRawBufferPointer) { let t = builder.tags[k]; return (t.key, t.value) }

    /// The record with its strings made.
    public func makeRecord() -> UsageRecord { builder.makeRecord(line: line, context: context) }
}

extension GenericSource {
    /// Like `forEachAcceptedRecord`, without making strings: `body` gets each accepted record as a view.
    public func forEachAcceptedView(skipLines: Set<Int>, _ body: (UsageRecordView) throws -> Void) throws -> Int {
        try checkFingerprint()
        return try withoutActuallyEscaping(body) { body in
            let handler = AcceptedViews(skip: skipLines, body: body)
            try replay(handler)
            try checkCount(handler.passed)
            return handler.passed
        }
    }

    func checkFingerprint() throws {
        let fp = FileSystem.fingerprint(file)
        guard fp?.size == size && fp?.modifiedNanoseconds == modified else {
            throw ReckonError(.badData, "the file changed since extract validated it: rerun reckon-extract", at: SourcePosition(file: file))
        }
    }

    func checkCount(_ passed: Int) throws {
        guard passed == rowsOut else {
            throw ReckonError(.badData, "extract accepted \(rowsOut) records from this file, transform read \(passed): rerun reckon-extract",
                              at: SourcePosition(file: file))
        }
    }
}

private final class AcceptedViews: GenericRecordHandler {
    let skip: Set<Int>
    let body: (UsageRecordView) throws -> Void
    var passed = 0

    init(skip: Set<Int>, body: @escaping (UsageRecordView) throws -> Void) {
        self.skip = skip
        self.body = body
    }

    func accept(_ b: GenericRecordBuilder, line: Int, context: GenericUsage.FileContext, raw: () -> String) throws -> Bool {
        if !skip.isEmpty && skip.contains(line) { return false }
        try body(UsageRecordView(builder: b, context: context, line: line))
        passed += 1
        return true
    }

    func reject(line: Int, reason: String, raw: String, context: GenericUsage.FileContext) throws {}
}
