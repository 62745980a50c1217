import ReckonCore

/// Reads one page of Anthropic's Admin API messages usage report
/// (`GET /v1/organizations/usage_report/messages`), as the API returns it:
/// `{"data": [{"starting_at", "ending_at", "results": [{uncached_input_tokens, …}]}], "has_more", "next_page"}`.
///
/// Each `results[]` entry is one record. The report does not name the organisation, so the
/// billing account comes from the file's folder (`billing_account=…`).
/// Meter mapping: `uncached_input_tokens` → `tokens_input`, `cache_read_input_tokens` →
/// `tokens_cache_read`, `cache_creation.ephemeral_5m_input_tokens` → `tokens_cache_write_5m`,
/// `cache_creation.ephemeral_1h_input_tokens` → `tokens_cache_write_1h`, `output_tokens` →
/// `tokens_output`, `server_tool_use.web_search_requests` → `web_search_requests`.
public enum AnthropicUsageReport {
    public static let kind = "anthropic.usage_report.messages"

    /// Whether a parsed JSON document has the report's shape.
    public static func matches(_ doc: JSONValue) -> Bool {
        guard let data = doc["data"]?.array else { return false }
        guard let first = data.first else { return doc["has_more"] != nil }
        return first["starting_at"] != nil && first["results"]?.array != nil
    }

    static let meters: [(meter: String, path: [String])] = [
        ("tokens_input", ["uncached_input_tokens"]),
        ("tokens_cache_write_5m", ["cache_creation", "ephemeral_5m_input_tokens"]),
        ("tokens_cache_write_1h", ["cache_creation", "ephemeral_1h_input_tokens"]),
        ("tokens_cache_read", ["cache_read_input_tokens"]),
        ("tokens_output", ["output_tokens"]),
        ("web_search_requests", ["server_tool_use", "web_search_requests"]),
    ]

    /// Turns the document into records; bad results go to `quarantine` with their JSON path.
    /// - Returns: the counts for this file (`rowsRead` = number of `results[]` entries).
    public static func read(_ doc: JSONValue, file: String, provider: String, billingAccount: String,
                            emit: (UsageRecord) throws -> Bool,
                            quarantine: (QuarantineEntry) throws -> Void) throws -> RowCounts {
        var counts = RowCounts()
        for (bi, bucket) in (doc["data"]?.array ?? []).enumerated() {
            let bucketPath = "$.data[\(bi)]"
            let results = bucket["results"]?.array ?? []
            let start = bucket["starting_at"]?.string.flatMap { Timestamp(rfc3339: $0) }
            let end = bucket["ending_at"]?.string.flatMap { Timestamp(rfc3339: $0) }
            for (ri, result) in results.enumerated() {
                counts.rowsRead += 1
                let path = "\(bucketPath).results[\(ri)]"
                func reject(_ reason: String) throws {
                    counts.rowsQuarantined += 1
                    try quarantine(QuarantineEntry(stage: "extract", position: SourcePosition(file: file, path: path),
                                                   reason: reason, raw: JSONWriter.write(result)))
                }
                guard let start, let end, start < end else {
                    try reject("bucket has no valid starting_at/ending_at (RFC 3339, start before end)")
                    continue
                }
                guard let model = result["model"]?.string, !model.isEmpty else {
                    try reject("no model: export the report grouped by model (group_by[]=model)")
                    continue
                }
                var quantities: [(meter: String, quantity: ExactDecimal)] = []
                var problem: String?
                for (meter, keys) in meters {
                    var v: JSONValue? = result
                    for k in keys { v = v?[k] }
                    guard let v, !v.isNull else { continue }  // absent means 0
                    guard case .number(let text) = v, let q = ExactDecimal(text), q.scale == 0 || q.normalized.scale == 0 else {
                        problem = "\(keys.joined(separator: ".")) is not a whole number: \(JSONWriter.write(v))"
                        break
                    }
                    guard !q.isNegative else {
                        problem = "\(keys.joined(separator: ".")) is negative: \(text)"
                        break
                    }
                    quantities.append((meter, q.normalized))
                }
                if let problem { try reject(problem); continue }
                let tier = (result["service_tier"]?.string ?? "standard").lowercased()
                var record = UsageRecord(provider: provider, billingAccountId: billingAccount,
                                         subAccountId: result["workspace_id"]?.string, model: model,
                                         periodStart: start, periodEnd: end, serviceTier: tier,
                                         quantities: quantities, source: SourcePosition(file: file, path: path))
                record.contextWindow = result["context_window"]?.string
                let kept = try emit(record)
                if kept { counts.rowsOut += 1 } else { counts.rowsQuarantined += 1 }
            }
        }
        return counts
    }
}
