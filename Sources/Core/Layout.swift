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
    public func stagedDataset(_ dataset: String, _ period: BillingPeriod) -> String {
        stageFolder("transform") + "/\(dataset)/billing_period=\(period)/part-00000.jsonl"
    }
    /// Usage without a rate, summed per account, provider, model, meter and tier.
    public func stagedUnpriced(_ period: BillingPeriod) -> String {
        stageFolder("transform") + "/unpriced/billing_period=\(period)/unpriced.jsonl"
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
