#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ReckonCore

/// Month-end close: freezes a billing period's published outputs behind a manifest of SHA-256
/// hashes, refuses to close while an account is out of tolerance (unless a reason is given), and
/// records every close, reopen and accepted variance in a tamper-evident audit trail.
public struct PeriodClose {
    public let layout: Layout

    public init(layout: Layout) { self.layout = layout }

    public func manifestPath(_ p: BillingPeriod) -> String { layout.output + "/closed/billing_period=\(p)/manifest.json" }
    public func isClosed(_ p: BillingPeriod) -> Bool { FileSystem.exists(manifestPath(p)) }
    public var audit: AuditTrail { AuditTrail(path: layout.output + "/audit/audit.jsonl") }

    /// The published files of a period (datasets, reports, rollups; not the diff since last night).
    func outputs(_ p: BillingPeriod) throws -> [String] {
        var files: [String] = []
        for root in ["focus/estimated/billing_period=\(p)", "focus/invoiced/billing_period=\(p)", "reports/billing_period=\(p)",
                     "rollups/billing_period=\(p)"] where FileSystem.isDirectory(layout.output + "/" + root) {
            files += try FileSystem.files(under: layout.output + "/" + root).filter { !$0.contains("/diff/") }
        }
        return files.sorted()
    }

    static func hash(_ path: String) throws -> String { SHA256.hex(try ByteStream.readAll(path: path)) }

    /// Closes `period`.
    /// - Parameter accept: the reason to close although an account is beyond tolerance (recorded).
    /// - Throws: `ReckonError` with exit 1 semantics (`.usage`-free): `.badData` when the period has
    ///   no report, or an account is beyond tolerance and no reason is given.
    public func close(_ p: BillingPeriod, accept: String?, toolVersion: String) throws -> [String] {
        let reportPath = layout.report(p, "reconciliation.json")
        guard FileSystem.exists(reportPath) else {
            throw ReckonError(.missingInput, "no reconciliation for \(p): run the nightly first", at: SourcePosition(file: reportPath))
        }
        guard !isClosed(p) else { throw ReckonError(.badData, "\(p) is already closed", at: SourcePosition(file: manifestPath(p))) }
        let report = try JSONParser.parse(try ByteStream.readAll(path: reportPath))
        let open = (report["accounts"]?.array ?? []).filter {
            let s = $0["status"]?.string ?? ""
            return s != "matched" && s != "within_tolerance"
        }
        let problems = open.map { "\($0["provider"]?.string ?? "") \($0["billing_account_id"]?.string ?? ""): \($0["status"]?.string ?? "") (variance \($0["variance"]?.string ?? ""))" }
        if !problems.isEmpty && (accept ?? "").isEmpty {
            throw ReckonError(.varianceOutOfTolerance, "cannot close \(p): " + problems.joined(separator: "; ") + ". Close with a reason to accept it (ACCEPT=\"…\")",
                              at: SourcePosition(file: reportPath))
        }
        var files: [JSONValue] = []
        for f in try outputs(p) {
            files.append(.object([("path", .string(rel(f))), ("sha256", .string(try Self.hash(f)))]))
        }
        var inputs: [JSONValue] = []
        if FileSystem.isDirectory(layout.input) {
            for f in try FileSystem.files(under: layout.input) {
                inputs.append(.object([("path", .string(f)), ("sha256", .string(try Self.hash(f)))]))
            }
        }
        var counts: [(key: String, value: JSONValue)] = []
        for dataset in ["estimated", "invoiced"] {
            let path = layout.dataset(dataset, p, ext: "jsonl")
            if FileSystem.exists(path) {
                var n = 0
                let lines = LineReader(stream: try ByteStream(path: path))
                while try lines.next({ _ in () }) != nil { n += 1 }
                counts.append((dataset + "_rows", .number(String(n))))
            }
        }
        let transform = layout.manifest("transform")
        let cardVersion = FileSystem.exists(transform)
            ? (try JSONParser.parse(try ByteStream.readAll(path: transform)))["notes"]?.array?.compactMap(\.string).first { $0.hasPrefix("rate card version") }
            : nil
        let manifest: JSONValue = .object([
            ("billing_period", .string(p.description)), ("tool_version", .string(toolVersion)),
            ("accepted", .optional(problems.isEmpty ? nil : accept)), ("accepted_accounts", .array(problems.map(JSONValue.string))),
            ("rate_cards", .optional(cardVersion)), ("row_counts", .object(counts)),
            ("outputs", .array(files)), ("inputs", .array(inputs)),
        ])
        try OutputFile.write(JSONWriter.write(manifest, pretty: true) + "\n", to: manifestPath(p))
        var details: [(key: String, value: JSONValue)] = [("manifest_sha256", .string(try Self.hash(manifestPath(p))))]
        if !problems.isEmpty { details.append(("accepted", .string(accept!))); details.append(("accounts", .array(problems.map(JSONValue.string)))) }
        try audit.append(action: problems.isEmpty ? "close" : "close_accepted", period: p, details: details)
        return problems
    }

    /// Reopens a closed period (the only way back), with a reason that goes into the audit trail.
    public func reopen(_ p: BillingPeriod, reason: String) throws {
        guard isClosed(p) else { throw ReckonError(.badData, "\(p) is not closed", at: SourcePosition(file: manifestPath(p))) }
        let hash = try Self.hash(manifestPath(p))
        let archived = layout.output + "/closed/billing_period=\(p)/reopened-\(hash.prefix(12)).json"
        guard rename(manifestPath(p), archived) == 0 else {
            throw ReckonError(.io, "cannot move the manifest aside", at: SourcePosition(file: manifestPath(p)))
        }
        try audit.append(action: "reopen", period: p, details: [("reason", .string(reason)), ("manifest_sha256", .string(hash))])
    }

    /// Checks a closed period's files against its manifest; returns the problems (empty when intact).
    public func verify(_ p: BillingPeriod) throws -> [String] {
        guard isClosed(p) else { throw ReckonError(.missingInput, "\(p) is not closed", at: SourcePosition(file: manifestPath(p))) }
        let manifest = try JSONParser.parse(try ByteStream.readAll(path: manifestPath(p)))
        var problems: [String] = []
        var listed = Set<String>()
        for entry in manifest["outputs"]?.array ?? [] {
            guard let path = entry["path"]?.string, let sha = entry["sha256"]?.string else { continue }
            listed.insert(path)
            let full = layout.output + "/" + path
            if !FileSystem.exists(full) { problems.append("\(path): missing"); continue }
            if try Self.hash(full) != sha { problems.append("\(path): changed (SHA-256 differs from the manifest)") }
        }
        for f in try outputs(p) where !listed.contains(rel(f)) { problems.append("\(rel(f)): not in the manifest") }
        return problems
    }

    func rel(_ f: String) -> String { f.hasPrefix(layout.output + "/") ? String(f.dropFirst(layout.output.count + 1)) : f }
}

/// An append-only JSONL log where each entry carries the SHA-256 of the previous one, so that an
/// edited, removed or reordered entry breaks the chain where it happened.
///
/// Entry: `{"seq", "time", "action", "period", "details", "prev", "sha256"}`; `sha256` is the hash
/// of the entry's JSON text without its `sha256` member.
public struct AuditTrail {
    public let path: String

    public init(path: String) { self.path = path }

    public func entries() throws -> [JSONValue] {
        guard FileSystem.exists(path) else { return [] }
        var out: [JSONValue] = []
        let lines = LineReader(stream: try ByteStream(path: path))
        while let v = try lines.next({ $0.isEmpty ? nil : try JSONParser.parse($0) }) { if let v { out.append(v) } }
        return out
    }

    static func body(_ members: [(key: String, value: JSONValue)]) -> String { JSONWriter.write(.object(members.filter { $0.key != "sha256" })) }

    public func append(action: String, period: BillingPeriod?, details: [(key: String, value: JSONValue)]) throws {
        let existing = try entries()
        let prev = existing.last?["sha256"]?.string ?? String(repeating: "0", count: 64)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var members: [(key: String, value: JSONValue)] = [
            ("seq", .number(String(existing.count + 1))),
            ("time", .string(Timestamp(secondsSinceEpoch: Int64(now.tv_sec)).description)),
            ("action", .string(action)), ("period", .optional(period?.description)),
            ("details", .object(details)), ("prev", .string(prev)),
        ]
        members.append(("sha256", .string(SHA256.hex(Array(Self.body(members).utf8)))))
        var text = existing.map { JSONWriter.write($0) + "\n" }.joined()
        text += JSONWriter.write(.object(members)) + "\n"
        try OutputFile.write(text, to: path)
    }

    /// The problems in the chain, each naming the entry (empty when it is intact).
    public func verify() throws -> [String] {
        var problems: [String] = []
        var prev = String(repeating: "0", count: 64)
        for (k, e) in try entries().enumerated() {
            guard case .object(let members) = e else { problems.append("line \(k + 1): not an object"); continue }
            let seq = e["seq"].map { JSONWriter.write($0) } ?? "?"
            if JSONWriter.write(e["seq"] ?? .null) != String(k + 1) {
                problems.append("line \(k + 1): entry seq \(seq) where \(k + 1) was expected (an entry was removed or moved)")
            }
            if SHA256.hex(Array(Self.body(members).utf8)) != e["sha256"]?.string {
                problems.append("line \(k + 1) (seq \(seq)): its content does not match its hash (the entry was edited)")
            }
            if e["prev"]?.string != prev {
                problems.append("line \(k + 1) (seq \(seq)): it does not follow the entry before it (an entry was removed, added or moved)")
            }
            prev = e["sha256"]?.string ?? ""
        }
        return problems
    }
}
