import ReckonCore

/// One usage record in Reckon's normalised form: one provider bucket (or one request) for one
/// account, sub-account, model and service tier, with a quantity per canonical meter id
/// (`tokens_input`, `tokens_output`, `tokens_cache_read`, `tokens_cache_write_5m`,
/// `tokens_cache_write_1h`, `web_search_requests`, `code_execution_hours`,
/// `managed_agent_session_runtime`, `requests`, `logged_requests`, …).
public struct UsageRecord: Sendable {
    public var provider: String
    public var billingAccountId: String
    public var subAccountId: String?
    public var model: String
    public var periodStart: Timestamp
    /// Equal to `periodStart` for a single request (an instant).
    public var periodEnd: Timestamp
    /// `standard`, `batch`, `priority`, `flex` (provider vocabulary, lower-cased).
    public var serviceTier: String
    /// Meter id → quantity, in the order the reader emits them.
    public var quantities: [(meter: String, quantity: ExactDecimal)]
    public var tags: [(key: String, value: String)]
    public var requestId: String?
    public var executionId: String?
    public var spanId: String?
    public var parentSpanId: String?
    public var agent: String?
    /// The provider's context-window class for a bucket (Anthropic `context_window`, e.g.
    /// `200k-1M`): how a long-context tier is chosen when the bucket's requests are not visible.
    public var contextWindow: String?
    /// Where the record came from: file and line or JSON path.
    public var source: SourcePosition

    public init(provider: String, billingAccountId: String, subAccountId: String?, model: String,
                periodStart: Timestamp, periodEnd: Timestamp, serviceTier: String,
                quantities: [(meter: String, quantity: ExactDecimal)], tags: [(key: String, value: String)] = [],
                source: SourcePosition) {
        self.provider = provider
        self.billingAccountId = billingAccountId
        self.subAccountId = subAccountId
        self.model = model
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.serviceTier = serviceTier
        self.quantities = quantities
        self.tags = tags
        self.source = source
    }

    /// Appends the record as one line of `staging/extract/usage.jsonl` (newline included).
    /// Field order is fixed; optional ids appear only when set.
    /// - Complexity: O(record size); no intermediate `String` for numbers.
    public func appendStagingLine(to out: inout [UInt8]) {
        out.append(ascii: "{\"provider\":"); out.appendJSONString(provider)
        out.append(ascii: ",\"billing_account\":"); out.appendJSONString(billingAccountId)
        out.append(ascii: ",\"sub_account\":")
        if let subAccountId { out.appendJSONString(subAccountId) } else { out.append(ascii: "null") }
        out.append(ascii: ",\"model\":"); out.appendJSONString(model)
        out.append(ascii: ",\"period_start\":\""); out.appendTimestamp(periodStart)
        out.append(ascii: "\",\"period_end\":\""); out.appendTimestamp(periodEnd)
        out.append(ascii: "\",\"service_tier\":"); out.appendJSONString(serviceTier)
        out.append(ascii: ",\"quantities\":{")
        for (k, q) in quantities.enumerated() {
            if k > 0 { out.append(0x2C) }
            out.appendJSONString(q.meter); out.append(0x3A); out.appendDecimal(q.quantity)
        }
        out.append(ascii: "},\"tags\":{")
        for (k, t) in tags.enumerated() {
            if k > 0 { out.append(0x2C) }
            out.appendJSONString(t.key); out.append(0x3A); out.appendJSONString(t.value)
        }
        out.append(0x7D)
        if let requestId { out.append(ascii: ",\"request_id\":"); out.appendJSONString(requestId) }
        if let executionId { out.append(ascii: ",\"execution_id\":"); out.appendJSONString(executionId) }
        if let spanId { out.append(ascii: ",\"span_id\":"); out.appendJSONString(spanId) }
        if let parentSpanId { out.append(ascii: ",\"parent_span_id\":"); out.appendJSONString(parentSpanId) }
        if let agent { out.append(ascii: ",\"agent\":"); out.appendJSONString(agent) }
        if let contextWindow { out.append(ascii: ",\"context_window\":"); out.appendJSONString(contextWindow) }
        out.append(ascii: ",\"source\":"); out.appendJSONString(source.file)
        out.append(ascii: ",\"position\":")
        if let path = source.path { out.appendJSONString(path) } else if let line = source.line { out.appendInt(line) } else { out.append(ascii: "null") }
        out.append(ascii: "}\n")
    }

    public var stagingLine: String {
        var bytes: [UInt8] = []
        appendStagingLine(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads one staging line back.
    public init(json j: JSONValue) throws(StagingDecodeError) {
        guard let ps = j["period_start"]?.string, let start = Timestamp(rfc3339: ps) else { throw StagingDecodeError(field: "period_start") }
        guard let pe = j["period_end"]?.string, let end = Timestamp(rfc3339: pe) else { throw StagingDecodeError(field: "period_end") }
        guard case .object(let q)? = j["quantities"] else { throw StagingDecodeError(field: "quantities") }
        var quantities: [(meter: String, quantity: ExactDecimal)] = []
        for (k, v) in q {
            guard let d = v.decimal else { throw StagingDecodeError(field: "quantities.\(k)") }
            quantities.append((k, d))
        }
        var tags: [(key: String, value: String)] = []
        if case .object(let t)? = j["tags"] {
            for (k, v) in t { tags.append((k, v.string ?? "")) }
        }
        var position: SourcePosition
        switch j["position"] {
        case .number(let n)?: position = SourcePosition(file: try j.required("source", \.string), line: Int(n))
        case .string(let p)?: position = SourcePosition(file: try j.required("source", \.string), path: p)
        default: position = SourcePosition(file: try j.required("source", \.string))
        }
        self.init(provider: try j.required("provider", \.string), billingAccountId: try j.required("billing_account", \.string),
                  subAccountId: j["sub_account"]?.string, model: try j.required("model", \.string),
                  periodStart: start, periodEnd: end, serviceTier: try j.required("service_tier", \.string),
                  quantities: quantities, tags: tags, source: position)
        requestId = j["request_id"]?.string
        executionId = j["execution_id"]?.string
        spanId = j["span_id"]?.string
        parentSpanId = j["parent_span_id"]?.string
        agent = j["agent"]?.string
        contextWindow = j["context_window"]?.string
    }

    /// Whether the record is one request (an instant) rather than an aggregated bucket.
    public var isSingleRequest: Bool { periodStart == periodEnd }

    /// Prompt tokens of the request: uncached input + cache reads + cache writes.
    public var promptTokens: ExactDecimal {
        quantities.filter { ["tokens_input", "tokens_cache_read", "tokens_cache_write_5m", "tokens_cache_write_1h"].contains($0.meter) }
            .map(\.quantity).sum()
    }
}

extension UsageRecord: Equatable {
    public static func == (a: UsageRecord, b: UsageRecord) -> Bool { a.stagingLine == b.stagingLine }
}

/// Reads `key=value` folder names on a path (hive style), e.g.
/// `usage/provider=anthropic/billing_account=org_01/page-1.json` → provider, billing_account.
public func hivePartitions(of path: String) -> [String: String] {
    var out: [String: String] = [:]
    for part in path.split(separator: "/") {
        guard let eq = part.firstIndex(of: "="), eq != part.startIndex else { continue }
        out[String(part[..<eq])] = String(part[part.index(after: eq)...])
    }
    return out
}
