import ReckonCore

/// One usage record in Reckon's normalised form: one provider bucket (or one request) for one
/// account, sub-account, model and service tier, with a quantity per canonical meter id
/// (`tokens_input`, `tokens_output`, `tokens_cache_read`, `tokens_cache_write_5m`,
/// `tokens_cache_write_1h`, `web_search_requests`, …).
public struct UsageRecord: Sendable, Equatable {
    public var provider: String
    public var billingAccountId: String
    public var subAccountId: String?
    public var model: String
    public var periodStart: Timestamp
    public var periodEnd: Timestamp
    /// `standard`, `batch`, `priority`, `flex` (provider vocabulary, lower-cased).
    public var serviceTier: String
    /// Meter id → quantity, in a fixed order (the order the reader emits them).
    public var quantities: [(meter: String, quantity: ExactDecimal)]
    public var tags: [(key: String, value: String)]
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

    public static func == (a: UsageRecord, b: UsageRecord) -> Bool {
        a.json == b.json
    }

    /// One line of `staging/extract/usage.jsonl`.
    public var json: JSONValue {
        .object([
            ("provider", .string(provider)), ("billing_account", .string(billingAccountId)),
            ("sub_account", .optional(subAccountId)), ("model", .string(model)),
            ("period_start", .string(periodStart.description)), ("period_end", .string(periodEnd.description)),
            ("service_tier", .string(serviceTier)),
            ("quantities", .object(quantities.map { ($0.meter, .decimal($0.quantity)) })),
            ("tags", .object(tags.map { ($0.key, .string($0.value)) })),
            ("source", .string(source.file)),
            ("position", .optional(source.path ?? source.line.map(String.init))),
        ])
    }

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
        let position = j["position"]?.string
        self.init(provider: try j.required("provider", \.string), billingAccountId: try j.required("billing_account", \.string),
                  subAccountId: j["sub_account"]?.string, model: try j.required("model", \.string),
                  periodStart: start, periodEnd: end, serviceTier: try j.required("service_tier", \.string),
                  quantities: quantities, tags: tags,
                  source: SourcePosition(file: try j.required("source", \.string),
                                         line: position.flatMap { Int($0) },
                                         path: position.flatMap { Int($0) == nil ? $0 : nil }))
    }
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
