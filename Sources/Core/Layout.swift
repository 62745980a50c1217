/// Where every stage reads and writes, under the output folder. The published folders
/// (`focus/estimated`, `focus/invoiced`, `reports`, with `billing_period=YYYY-MM` partitions) are a
/// contract that DuckDB, Spark and pandas read as hive-partitioned datasets; `staging/` is how
/// the stages talk to each other.
public struct Layout: Sendable {
    public let input: String
    public let output: String

    public init(input: String, output: String) {
        self.input = input.hasSuffix("/") && input.count > 1 ? String(input.dropLast()) : input
        self.output = output.hasSuffix("/") && output.count > 1 ? String(output.dropLast()) : output
    }

    // Inputs.
    public var usageInput: String { input + "/usage" }
    public var invoiceInput: String { input + "/invoices" }
    public var rateCardInput: String { input + "/ratecards" }
    public var accountsFile: String { input + "/accounts.csv" }

    // Staging.
    public var staging: String { output + "/staging" }
    public func stageFolder(_ stage: String) -> String { staging + "/" + stage }
    public func manifest(_ stage: String) -> String { stageFolder(stage) + "/manifest.json" }
    public func quarantine(_ stage: String) -> String { stageFolder(stage) + "/quarantine.jsonl" }
    public var extractedUsage: String { stageFolder("extract") + "/usage.jsonl" }
    public var extractedInvoices: String { stageFolder("extract") + "/invoices.jsonl" }
    /// Generic-format exports validated in place (read again by transform).
    public var extractedSources: String { stageFolder("extract") + "/usage_sources.jsonl" }
    /// The generic records extract accepted, in Reckon's binary staging form (see `StagedRecords`).
    public var extractedRecords: String { stageFolder("extract") + "/usage_records.bin" }
    /// The lines of staged generic records found to repeat an earlier request id (see `RepeatedLines`).
    public var extractedRepeats: String { stageFolder("extract") + "/usage_repeats.bin" }
    public func stagedDataset(_ dataset: String, _ period: BillingPeriod) -> String {
        stageFolder("transform") + "/\(dataset)/billing_period=\(period)/part-00000.csv"
    }
    /// Usage without a rate, summed per account, provider, model, meter and tier.
    public func stagedUnpriced(_ period: BillingPeriod) -> String {
        stageFolder("transform") + "/unpriced/billing_period=\(period)/unpriced.jsonl"
    }
    /// Single requests per day, account and tag set (the evidence for runaway-loop anomalies).
    public func stagedActivity(_ period: BillingPeriod) -> String {
        stageFolder("transform") + "/activity/billing_period=\(period)/activity.jsonl"
    }
    public func stagedReport(_ period: BillingPeriod, _ name: String) -> String {
        stageFolder("reconcile") + "/billing_period=\(period)/\(name)"
    }

    // Published (the contract).
    public func dataset(_ dataset: String, _ period: BillingPeriod, ext: String) -> String {
        output + "/focus/\(dataset)/billing_period=\(period)/part-00000.\(ext)"
    }
    public func report(_ period: BillingPeriod, _ name: String) -> String {
        output + "/reports/billing_period=\(period)/\(name)"
    }

    /// The billing periods that have a staged partition of `dataset`, sorted.
    public func stagedPeriods(_ dataset: String) -> [BillingPeriod] {
        let root = stageFolder("transform") + "/" + dataset
        guard let files = try? FileSystem.files(under: root) else { return [] }
        var periods = Set<BillingPeriod>()
        for f in files {
            for part in f.split(separator: "/") where part.hasPrefix("billing_period=") {
                if let p = BillingPeriod(part.dropFirst("billing_period=".count)) { periods.insert(p) }
            }
        }
        return periods.sorted()
    }
}

/// The billing periods that are closed: signed off by `reckon-load close` (a manifest under
/// `OUTPUT/closed/`), or closed in the ledger outside Reckon (the optional `INPUT/closed_periods.csv`:
/// `billing_period,closed_on,note`, e.g. the months closed before Reckon was adopted).
///
/// Closed periods are never rewritten. What the inputs say about them tonight that differs from what
/// was signed off lands as `ChargeClass=Correction` rows in the next open period.
public struct ClosedPeriods: Sendable {
    /// Closed by Reckon: the published datasets are the signed-off baseline.
    public private(set) var signedOff: Set<BillingPeriod> = []
    /// Closed in the ledger: nothing of them was published by Reckon, so the baseline is empty.
    public private(set) var ledger: Set<BillingPeriod> = []

    public init(signedOff: Set<BillingPeriod> = [], ledger: Set<BillingPeriod> = []) {
        self.signedOff = signedOff
        self.ledger = ledger
    }

    public static func manifestPath(_ layout: Layout, _ p: BillingPeriod) -> String {
        layout.output + "/closed/billing_period=\(p)/manifest.json"
    }

    public static func load(_ layout: Layout) throws -> ClosedPeriods {
        var result = ClosedPeriods()
        let root = layout.output + "/closed"
        if FileSystem.isDirectory(root) {
            for f in try FileSystem.files(under: root) where f.hasSuffix("/manifest.json") {
                for part in f.split(separator: "/") where part.hasPrefix("billing_period=") {
                    if let p = BillingPeriod(part.dropFirst("billing_period=".count)) { result.signedOff.insert(p) }
                }
            }
        }
        let path = layout.input + "/closed_periods.csv"
        for (line, f) in try ConfigFile.rows(path, header: ["billing_period", "closed_on", "note"]) {
            guard let p = BillingPeriod(f[0]), CivilDate(f[1]) != nil else {
                throw ReckonError(.badData, "expected billing_period (YYYY-MM),closed_on (YYYY-MM-DD),note", at: SourcePosition(file: path, line: line))
            }
            result.ledger.insert(p)
        }
        return result
    }

    public func contains(_ p: BillingPeriod) -> Bool { signedOff.contains(p) || ledger.contains(p) }
    public var isEmpty: Bool { signedOff.isEmpty && ledger.isEmpty }

    /// The first period after `p` that is not closed: where corrections of `p` are booked.
    public func nextOpen(after p: BillingPeriod) -> BillingPeriod {
        var n = p.next
        while contains(n) { n = n.next }
        return n
    }
}
