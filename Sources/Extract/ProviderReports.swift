import ReckonCore

/// What a provider says a period cost (Anthropic cost report, OpenAI costs): the third leg of the
/// reconciliation next to the estimate and the invoice. One line of `staging/extract/provider_costs.jsonl`.
public struct ProviderCostRecord: Sendable, Equatable {
    public var provider: String
    public var billingAccountId: String
    public var subAccountId: String?
    public var periodStart: Timestamp
    public var periodEnd: Timestamp
    /// In currency units (dollars), exact.
    public var amount: ExactDecimal
    public var currency: String
    public var description: String?
    public var model: String?
    public var tokenType: String?
    public var costType: String?
    public var serviceTier: String?
    public var source: SourcePosition

    public var json: JSONValue {
        .object([
            ("provider", .string(provider)), ("billing_account", .string(billingAccountId)),
            ("sub_account", .optional(subAccountId)),
            ("period_start", .string(periodStart.description)), ("period_end", .string(periodEnd.description)),
            ("amount", .decimal(amount)), ("currency", .string(currency)), ("description", .optional(description)),
            ("model", .optional(model)), ("token_type", .optional(tokenType)), ("cost_type", .optional(costType)),
            ("service_tier", .optional(serviceTier)),
            ("source", .string(source.file)), ("position", .optional(source.path)),
        ])
    }
}

/// Readers for the JSON documents providers' admin APIs return, one page per file.
enum ProviderReports {
    typealias Emit<T> = (T) throws -> Bool
    typealias Quarantine = (QuarantineEntry) throws -> Void

    /// Which report a parsed page is, from its shape.
    static func kind(of doc: JSONValue) -> String? {
        if AnthropicUsageReport.matches(doc) {
            let first = doc["data"]?.array?.first?["results"]?.array?.first
            if first?["amount"] != nil && first?["uncached_input_tokens"] == nil { return "anthropic.cost_report" }
            return AnthropicUsageReport.kind
        }
        guard doc["object"]?.string == "page", let data = doc["data"]?.array else { return nil }
        let object = data.first?["results"]?.array?.first?["object"]?.string
        switch object {
        case "organization.usage.completions.result"?: return "openai.usage.completions"
        case "organization.costs.result"?: return "openai.costs"
        case nil where data.allSatisfy({ $0["results"]?.array?.isEmpty ?? true }): return "openai.usage.completions"
        default: return nil
        }
    }

    /// Walks `data[].results[]`, giving each result with its bucket bounds; bad buckets quarantine their results.
    static func forEachResult(_ doc: JSONValue, file: String, startKey: String, endKey: String, unix: Bool,
                              quarantine: Quarantine, counts: inout RowCounts,
                              _ body: (JSONValue, Timestamp, Timestamp, String) throws -> Result<Bool, QuarantineReason>) throws {
        for (bi, bucket) in (doc["data"]?.array ?? []).enumerated() {
            func time(_ v: JSONValue?) -> Timestamp? {
                guard let v else { return nil }
                if unix { return v.decimal.flatMap { Int64(exactly: $0.normalized.significand) }.map { Timestamp(secondsSinceEpoch: $0) } }
                return v.string.flatMap { Timestamp(rfc3339: $0) }
            }
            let start = time(bucket[startKey]), end = time(bucket[endKey])
            for (ri, result) in (bucket["results"]?.array ?? []).enumerated() {
                counts.rowsRead += 1
                let path = "$.data[\(bi)].results[\(ri)]"
                var outcome: Result<Bool, QuarantineReason>
                if let start, let end, start < end {
                    outcome = try body(result, start, end, path)
                } else {
                    outcome = .failure(QuarantineReason("bucket has no valid \(startKey)/\(endKey)"))
                }
                switch outcome {
                case .success(true): counts.rowsOut += 1
                case .success(false): counts.rowsQuarantined += 1  // the sink quarantined it (duplicate)
                case .failure(let reason):
                    counts.rowsQuarantined += 1
                    try quarantine(QuarantineEntry(stage: "extract", position: SourcePosition(file: file, path: path),
                                                   reason: reason.message, raw: JSONWriter.write(result)))
                }
            }
        }
    }

    static func wholeNumber(_ v: JSONValue?, _ name: String) -> Result<ExactDecimal, QuarantineReason> {
        guard let v, !v.isNull else { return .success(.zero) }
        guard case .number = v, let q = v.decimal, q.normalized.scale == 0 else {
            return .failure(QuarantineReason("\(name) is not a whole number: \(JSONWriter.write(v))"))
        }
        guard !q.isNegative else { return .failure(QuarantineReason("\(name) is negative: \(q)")) }
        return .success(q.normalized)
    }

    /// OpenAI organization usage (completions). `input_tokens` includes `input_cached_tokens`, so
    /// uncached input = input − cached; cached tokens become `tokens_cache_read`.
    static func openAIUsage(_ doc: JSONValue, file: String, billingAccount: String,
                            emit: Emit<UsageRecord>, quarantine: Quarantine) throws -> RowCounts {
        var counts = RowCounts()
        try forEachResult(doc, file: file, startKey: "start_time", endKey: "end_time", unix: true,
                          quarantine: quarantine, counts: &counts) { r, start, end, path in
            guard let model = r["model"]?.string, !model.isEmpty else {
                return .failure("no model: export the usage grouped by model (group_by=model)")
            }
            let input: ExactDecimal, cached: ExactDecimal, output: ExactDecimal
            switch (wholeNumber(r["input_tokens"], "input_tokens"), wholeNumber(r["input_cached_tokens"], "input_cached_tokens"),
                    wholeNumber(r["output_tokens"], "output_tokens")) {
            case let (.success(i), .success(c), .success(o)): (input, cached, output) = (i, c, o)
            case let (.failure(e), _, _), let (_, .failure(e), _), let (_, _, .failure(e)): return .failure(e)
            }
            guard cached <= input else {
                return .failure(QuarantineReason("input_cached_tokens (\(cached)) exceeds input_tokens (\(input)), which include them"))
            }
            var tier = (r["service_tier"]?.string ?? "default").lowercased()
            if tier == "default" || tier == "auto" { tier = "standard" }
            if r["batch"]?.bool == true { tier = "batch" }
            let rec = UsageRecord(provider: "openai", billingAccountId: billingAccount, subAccountId: r["project_id"]?.string,
                                  model: model, periodStart: start, periodEnd: end, serviceTier: tier,
                                  quantities: [("tokens_input", input - cached), ("tokens_cache_read", cached), ("tokens_output", output)],
                                  source: SourcePosition(file: file, path: path))
            return .success(try emit(rec))
        }
        return counts
    }

    /// Anthropic cost report: `amount` is in the lowest currency unit (cents) as a decimal string.
    static func anthropicCosts(_ doc: JSONValue, file: String, billingAccount: String,
                               emit: Emit<ProviderCostRecord>, quarantine: Quarantine) throws -> RowCounts {
        var counts = RowCounts()
        try forEachResult(doc, file: file, startKey: "starting_at", endKey: "ending_at", unix: false,
                          quarantine: quarantine, counts: &counts) { r, start, end, path in
            guard case .string(let text)? = r["amount"], let cents = ExactDecimal(text) else {
                return .failure("amount must be a decimal string of cents, e.g. \"123.45\"")
            }
            guard let currency = r["currency"]?.string, currency.count == 3 else { return .failure("currency is missing") }
            let rec = ProviderCostRecord(provider: "anthropic", billingAccountId: billingAccount, subAccountId: r["workspace_id"]?.string,
                                         periodStart: start, periodEnd: end, amount: cents.shiftedLeft(by: 2),
                                         currency: currency.uppercased(), description: r["description"]?.string,
                                         model: r["model"]?.string, tokenType: r["token_type"]?.string,
                                         costType: r["cost_type"]?.string, serviceTier: r["service_tier"]?.string,
                                         source: SourcePosition(file: file, path: path))
            return .success(try emit(rec))
        }
        return counts
    }

    /// OpenAI costs: `amount.value` in dollars, a number or a string; currency lower-case.
    static func openAICosts(_ doc: JSONValue, file: String, billingAccount: String,
                            emit: Emit<ProviderCostRecord>, quarantine: Quarantine) throws -> RowCounts {
        var counts = RowCounts()
        try forEachResult(doc, file: file, startKey: "start_time", endKey: "end_time", unix: true,
                          quarantine: quarantine, counts: &counts) { r, start, end, path in
            guard let value = r["amount"]?["value"]?.decimal else { return .failure("amount.value is not a number") }
            guard let currency = r["amount"]?["currency"]?.string, currency.count == 3 else { return .failure("amount.currency is missing") }
            let rec = ProviderCostRecord(provider: "openai", billingAccountId: billingAccount, subAccountId: r["project_id"]?.string,
                                         periodStart: start, periodEnd: end, amount: value, currency: currency.uppercased(),
                                         description: r["line_item"]?.string, model: nil, tokenType: nil, costType: nil,
                                         serviceTier: nil, source: SourcePosition(file: file, path: path))
            return .success(try emit(rec))
        }
        return counts
    }
}
