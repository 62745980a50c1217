import Logging
import ReckonCore
import ReckonFocus

/// The load stage: publishes the staged FOCUS rows and reports into the contract layout —
/// `focus/{estimated,invoiced}/billing_period=YYYY-MM/part-00000.{csv,jsonl}` and
/// `reports/billing_period=YYYY-MM/reconciliation.{json,md}` — each file written atomically.
public struct LoadStage {
    public let layout: Layout
    public let period: BillingPeriod?
    public let logger: Logger

    public init(layout: Layout, period: BillingPeriod?, logger: Logger) {
        self.layout = layout
        self.period = period
        self.logger = logger
    }

    /// What identifies a FOCUS row across runs: its invoice line or its estimate cell.
    public static let focusRowKey = ["InvoiceId", "x_InvoiceLineId", "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd",
                                     "ServiceProviderName", "BillingAccountId", "BillingCurrency", "SubAccountId", "SkuPriceId",
                                     "x_Model", "Tags", "x_ChargeSubType", "ChargeDescription"]

    public func run() throws -> StageReport {
        var report = StageReport(stage: "load")
        let periods = period.map { [$0] } ?? Array(Set(layout.stagedPeriods("estimated") + layout.stagedPeriods("invoiced"))).sorted()
        guard !periods.isEmpty else {
            throw ReckonError(.missingInput, "nothing staged to load: run reckon-transform first",
                              at: SourcePosition(file: layout.stageFolder("transform")))
        }
        let closed = try ClosedPeriods.load(layout)
        for p in periods {
            // A closed period is frozen: its published files are never rewritten (reopen first);
            // transform books what changed since as corrections in the next open period.
            if closed.contains(p) {
                let why = closed.signedOff.contains(p) ? "closed: its published outputs are kept as signed off"
                    : "closed in the ledger (closed_periods.csv): not published"
                logger.notice("billing period is \(why); what changed since is booked as corrections in \(closed.nextOpen(after: p))",
                              metadata: ["period": "\(p)"])
                report.notes.append("\(p) is \(why)")
                continue
            }
            for dataset in ["estimated", "invoiced"] {
                let staged = layout.stagedDataset(dataset, p)
                guard FileSystem.exists(staged) else {
                    throw ReckonError(.missingInput, "staged dataset missing: run reckon-transform for \(p)", at: SourcePosition(file: staged))
                }
                // Keep the previous run's dataset, to say what changed since.
                let published = layout.dataset(dataset, p, ext: "csv")
                let previous = layout.output + "/previous/focus/\(dataset)/billing_period=\(p)/part-00000.csv"
                if FileSystem.exists(published) { try OutputFile.link(published, to: previous) }
                // Staging is the published CSV already (same writer): linked, not copied (neither
                // file is ever written in place); JSONL from its rows.
                let jsonl = try FocusWriter(path: layout.dataset(dataset, p, ext: "jsonl"), format: .jsonl)
                var counts = RowCounts()
                // The JSONL transcode (one thread) and the diff against the previous run (which
                // reads the two files on two threads) run at once: one after the other, a second
                // night's load at 10 M records kept one core idle for half its 7 s. The diff reads
                // the staged file, which the published CSV becomes (a link) right after.
                /// The JSONL writer, used by the transcode's task alone.
                struct Writer: @unchecked Sendable { let jsonl: FocusWriter }
                let (spill, keys, writer) = (layout.stageFolder("load"), Self.focusRowKey, Writer(jsonl: jsonl))
                let done = try concurrentMap(FileSystem.exists(previous) ? 2 : 1) { task -> (rows: Int, diff: TableDiff?) in
                    task == 0 ? (try FocusReader.transcode(csv: staged, toJSONL: writer.jsonl), nil)
                        : (0, try TableDiff.compare(previous, staged, keys: keys, spillFolder: spill))
                }
                let diff = done.count > 1 ? done[1].diff : nil
                counts.rowsRead = done[0].rows
                counts.rowsOut = counts.rowsRead
                try OutputFile.link(staged, to: published)
                try jsonl.commit()
                report.sources.append(.init(file: staged, kind: "focus." + dataset, counts: counts))
                report.outputs += [layout.dataset(dataset, p, ext: "csv"), layout.dataset(dataset, p, ext: "jsonl")]
                if let diff {
                    let folder = layout.report(p, "diff/\(dataset)")
                    try diff.write(to: folder)
                    report.outputs.append(folder)
                    report.notes.append("\(p) \(dataset) since the previous run: \(diff.added.count) added, \(diff.removed.count) removed, \(diff.changedRows) changed")
                }
            }
            // Rollups, as transform computed them.
            let rollups = layout.stageFolder("transform") + "/rollups/billing_period=\(p)"
            if FileSystem.isDirectory(rollups) {
                for file in try FileSystem.files(under: rollups) {
                    let target = layout.output + "/rollups/billing_period=\(p)/" + FileSystem.lastComponent(of: file)
                    try OutputFile.link(file, to: target)
                    report.outputs.append(target)
                }
            }
            for name in ["reconciliation.json", "reconciliation.md", "reconciliation.csv", "index.html", "alerts.jsonl"] {
                let staged = layout.stagedReport(p, name)
                guard FileSystem.exists(staged) else {
                    throw ReckonError(.missingInput, "staged report missing: run reckon-reconcile for \(p)", at: SourcePosition(file: staged))
                }
                try OutputFile.link(staged, to: layout.report(p, name))
                report.outputs.append(layout.report(p, name))
            }
        }
        try report.write(to: layout.manifest("load"), relativeTo: layout.output)
        try audit(report, periods: periods.filter { !closed.contains($0) })
        return report
    }

    /// Records the run in the audit trail, then each budget breach, policy violation, anomaly and
    /// plan cap exceeded of the published periods the first time it is seen: an alert whose identity
    /// (kind, period and budget scope and value / team and model / anomaly tag, value and day /
    /// billing account and SKU) is already in the trail
    /// is not recorded again, so that nightly reruns do not repeat it as its spend grows.
    func audit(_ report: StageReport, periods: [BillingPeriod]) throws {
        let trail = PeriodClose(layout: layout).audit
        var seen = Set<String>()
        for e in try trail.entries() { if let h = e["details"]?["alert_key"]?.string { seen.insert(h) } }
        try trail.append(action: "run", period: nil, details: [
            ("periods", .array(periods.map { .string($0.description) })),
            ("rows_out", .number(String(report.totals.rowsOut))),
            ("load_manifest_sha256", .string(SHA256.hex(try ByteStream.readAll(path: layout.manifest("load"))))),
        ])
        for p in periods where FileSystem.exists(layout.report(p, "alerts.jsonl")) {
            let lines = LineReader(stream: try ByteStream(path: layout.report(p, "alerts.jsonl")))
            while let line = try lines.next({ $0.isEmpty ? nil : (Array($0), try JSONParser.parse($0)) }) {
                guard let (bytes, alert) = line, let kind = alert["kind"]?.string else { continue }
                // Budget warnings and forecasts are reported, not audited; breaches are.
                guard kind == "budget_breach" || kind == "policy_violation" || kind.hasPrefix("anomaly_") || kind == "plan_cap_exceeded" else { continue }
                let evidence = alert["budget"] ?? alert["violation"] ?? alert["anomaly"] ?? alert["plan_cap"]
                let identity = ["scope", "value", "team", "model", "kind", "tag", "day"].compactMap { evidence?[$0]?.string }
                    + (kind == "plan_cap_exceeded" ? ["billing_account", "sku_id"].compactMap { evidence?[$0]?.string } : [])
                let key = ([kind, p.description] + identity).joined(separator: "|")
                guard seen.insert(key).inserted else { continue }
                try trail.append(action: kind, period: p, details: [("alert_key", .string(key)), ("alert_sha256", .string(SHA256.hex(bytes))),
                                                                    ("alert", alert)])
            }
        }
    }
}
