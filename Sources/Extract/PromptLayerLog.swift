import ReckonCore

/// Reads a PromptLayer-style request log export: JSONL, one logged request per line, plus
/// evaluation cell executions. Each line is one record of the SaaS's own meters
/// (`logged_requests` or `eval_cell_executions`, quantity 1), attributed by its metadata and tags.
/// The tokens of the LLM call a log line describes are billed by the LLM provider and come from
/// that provider's export; counting them here too would double them.
///
/// Request line: `{"id", "request_start_time", "engine", "provider_type", "workspace_id",
/// "metadata": {k: v}, "tags": ["…"], "status"}`. Eval line: `{"object": "eval_cell_execution",
/// "id", "executed_at", "workspace_id", "evaluation_id"}`.
enum PromptLayerLog {
    static let kind = "promptlayer.request_log"

    /// Whether a first JSONL object looks like a PromptLayer log line.
    static func matches(_ first: JSONValue) -> Bool {
        first["request_start_time"] != nil || first["object"]?.string == "eval_cell_execution"
    }

    static func read(_ stream: ByteStream, file: String, billingAccount: String?, sink: UsageSink,
                     progress counts: inout RowCounts) throws -> RowCounts {
        let lines = LineReader(stream: stream)
        while let outcome = try lines.next({ buf -> (Result<UsageRecord, QuarantineReason>, String)? in
            if buf.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
            let raw = String(decoding: buf, as: UTF8.self)
            guard let v = try? JSONParser.parse(buf), case .object = v else { return (.failure("not a JSON object"), raw) }
            return (record(v, file: file, line: lines.lineNumber, billingAccount: billingAccount), raw)
        }) {
            guard let (result, raw) = outcome else { continue }
            counts.rowsRead += 1
            switch result {
            case .success(let r):
                if try sink.emit(r) { counts.rowsOut += 1 } else { counts.rowsQuarantined += 1 }
            case .failure(let reason):
                counts.rowsQuarantined += 1
                try sink.quarantine(QuarantineEntry(stage: "extract", position: SourcePosition(file: file, line: lines.lineNumber),
                                                    reason: reason.message, raw: raw))
            }
        }
        return counts
    }

    /// An id given as a string or as a JSON number (kept as written).
    static func idText(_ v: JSONValue?) -> String? {
        switch v {
        case .string(let s)?: return s
        case .number(let n)?: return n
        default: return nil
        }
    }

    static func record(_ v: JSONValue, file: String, line: Int, billingAccount: String?) -> Result<UsageRecord, QuarantineReason> {
        guard let account = billingAccount else { return .failure("no billing account: put the file under a billing_account=<id> folder") }
        let isEval = v["object"]?.string == "eval_cell_execution"
        let timeKey = isEval ? "executed_at" : "request_start_time"
        guard let ts = v[timeKey]?.string.flatMap({ Timestamp(rfc3339: $0) }) else {
            return .failure(QuarantineReason("\(timeKey) is missing or not an RFC 3339 date-time"))
        }
        guard let id = idText(v["id"]) else { return .failure("id is missing") }
        if !isEval, let status = v["status"]?.string, status != "success" && status != "error" {
            return .failure(QuarantineReason("unknown status \"\(status)\""))
        }
        var tags: [(key: String, value: String)] = []
        if case .object(let meta)? = v["metadata"] {
            for (k, value) in meta {
                switch value {
                case .string(let s) where !s.isEmpty: tags.append((GenericRecordBuilder.normalizeTagKey(k), s))
                case .number(let n): tags.append((GenericRecordBuilder.normalizeTagKey(k), n))
                case .bool(let b): tags.append((GenericRecordBuilder.normalizeTagKey(k), b ? "true" : "false"))
                default: break
                }
            }
        }
        for t in v["tags"]?.array ?? [] {
            if let s = t.string, !s.isEmpty { tags.append(("pl_tag_" + GenericRecordBuilder.normalizeTagKey(s), "true")) }
        }
        tags.sort { $0.key < $1.key }
        let workspace = idText(v["workspace_id"])
        var r = UsageRecord(provider: "promptlayer", billingAccountId: account, subAccountId: workspace,
                            model: isEval ? "evaluations" : "request-logging", periodStart: ts, periodEnd: ts,
                            serviceTier: "standard",
                            quantities: [(isEval ? "eval_cell_executions" : "logged_requests", 1)],
                            tags: tags, source: SourcePosition(file: file, line: line))
        r.requestId = (isEval ? "pl-eval-" : "pl-req-") + id
        r.agent = v["prompt_name"]?.string
        return .success(r)
    }
}
