import Logging
import ReckonCore
import ReckonFocus

/// One billing account's reconciliation for a billing period.
public struct AccountReconciliation: Sendable {
    public enum Status: String, Sendable {
        case matched, withinTolerance = "within_tolerance", over, under
        case missingInvoice = "missing_invoice", missingUsage = "missing_usage"
    }

    public var provider: String
    public var billingAccountId: String
    public var billingAccountName: String?
    public var currency: String
    public var invoiceIds: [String] = []
    public var estimated: ExactDecimal = .zero
    /// What the provider's own cost report says (Anthropic cost report, OpenAI costs), if given.
    public var providerReported: ExactDecimal?
    public var invoiced: ExactDecimal = .zero
    public var estimatedRows = 0
    public var invoicedRows = 0
    /// Σ invoiced BilledCost per ChargeCategory.
    public var invoicedByCategory: [String: ExactDecimal] = [:]
    /// Σ invoiced BilledCost of Adjustment rows per x_ChargeSubType.
    public var adjustments: [String: ExactDecimal] = [:]
    /// Σ estimated BilledCost of the rows an invoice adds (Tax, Credit, Adjustment) per ChargeCategory,
    /// and of estimated Adjustment rows per x_ChargeSubType (taxes.csv, credits.csv, rounding).
    public var estimatedByCategory: [String: ExactDecimal] = [:]
    public var estimatedAdjustments: [String: ExactDecimal] = [:]
    public var status: Status = .matched
    /// Usage that found no rate (never priced at $0): meter quantities per model.
    public var unpriced: [JSONValue] = []
    /// What counts as `within_tolerance` for this account (tolerances.csv, else `--tolerance`).
    public var tolerance = Tolerance()
    /// The account's monthly spend ceiling (provider usage tier), when configured.
    public var ceiling: (amount: ExactDecimal, label: String)?
    /// Σ BilledCost of invoiced Usage/Purchase rows that correct an earlier period (ChargeClass=Correction).
    public var corrections: ExactDecimal = .zero
    /// Σ BilledCost of estimated rows that correct a closed period (late usage booked here).
    public var estimatedCorrections: ExactDecimal = .zero
    /// Per SKU: quantities and costs on both sides.
    public var skus: [String: SkuTotals] = [:]
    /// SKUs (`provider:model:meter`) of usage that found no rate.
    public var unpricedSkus: Set<String> = []
    /// Estimated cost per value of the `team` tag (`(untagged)` for rows without one): for accruals.
    public var estimatedByTeam: [String: ExactDecimal] = [:]

    /// One SKU's side-by-side totals. Quantities are ConsumedQuantity (tokens, requests) when the
    /// rows have it, else PricingQuantity.
    public struct SkuTotals: Sendable {
        public var estimatedQuantity: ExactDecimal = .zero
        public var estimatedCost: ExactDecimal = .zero
        public var invoicedQuantity: ExactDecimal = .zero
        /// Σ ListCost of the invoice lines: stated unit price × quantity, before the line is rounded.
        public var invoicedListCost: ExactDecimal = .zero
        /// Σ BilledCost of the invoice lines: the line amounts.
        public var invoicedCost: ExactDecimal = .zero
        public var onInvoice = false
        public var inEstimate = false
    }

    /// The SKU-level bridge: for a SKU on both sides, with P_est = estimated cost / estimated
    /// quantity (exact when the SKU has one price, else to 18 decimals, ties to even):
    /// `quantity` = (Q_invoiced − Q_estimated) × P_est; `rounding` = line amounts − Σ (stated price ×
    /// quantity); `price` = what is left, (Σ stated price × quantity) − estimated cost − quantity effect.
    /// A SKU only on the invoice is `unpriced_usage` when its usage found no rate, else
    /// `unmatched_invoice_line`; a SKU only in the estimate is `unmatched_usage`. The categories sum
    /// exactly to the SKU's invoiced − estimated.
    public func skuBridge(_ sku: String) -> [(category: String, amount: ExactDecimal)] {
        guard let t = skus[sku] else { return [] }
        var out: [(String, ExactDecimal)] = []
        switch (t.onInvoice, t.inEstimate) {
        case (true, true):
            let pEst = t.estimatedQuantity.isZero ? .zero
                : (t.estimatedCost.divided(by: t.estimatedQuantity, scale: 18, .halfEven) ?? .zero)
            let quantity = (t.invoicedQuantity - t.estimatedQuantity) * pEst
            out = [("quantity", quantity), ("price", t.invoicedListCost - t.estimatedCost - quantity),
                   ("rounding", t.invoicedCost - t.invoicedListCost)]
        case (true, false):
            out = [(unpricedSkus.contains(sku) ? "unpriced_usage" : "unmatched_invoice_line", t.invoicedCost)]
        case (false, true):
            out = [("unmatched_usage", -t.estimatedCost)]
        case (false, false):
            break
        }
        return out.filter { !$0.1.isZero }
    }

    public var variance: ExactDecimal { invoiced - estimated }

    /// Rounding of the documents: the invoices' payable rounding less the estimate's rounding to cents.
    public var documentRounding: ExactDecimal { (adjustments["Rounding"] ?? .zero) - (estimatedAdjustments["Rounding"] ?? .zero) }

    /// The variance split into named causes; the amounts always sum to `variance`.
    /// This first bridge names what the invoice states outright (tax, credits, document and line
    /// rounding, prepayments, other adjustments); the rest stays `unexplained` until the per-SKU
    /// bridge (price, quantity) explains it.
    /// Categories in a fixed order: the vocabulary of the report contract.
    public static let categories = ["tax", "credit", "discount", "price", "quantity", "included_allowance", "overage",
                                    "proration", "rounding", "fx", "prepaid", "adjustment", "unpriced_usage",
                                    "unmatched_invoice_line", "unmatched_usage", "unexplained"]

    public var bridge: [(category: String, amount: ExactDecimal)] {
        var sums: [String: ExactDecimal] = [:]
        // What the invoice adds on top of the charges, less what the estimate expected it to add.
        func both(_ category: String) -> ExactDecimal { (invoicedByCategory[category] ?? .zero) - (estimatedByCategory[category] ?? .zero) }
        sums["tax"] = both("Tax")
        sums["credit"] = both("Credit")
        let prepaid = adjustments["Prepayment applied"] ?? .zero
        sums["prepaid"] = prepaid
        sums["rounding"] = documentRounding
        sums["adjustment"] = both("Adjustment") - documentRounding - prepaid
        // Corrections of earlier periods: refunds count as credit, extra charges as adjustment.
        if corrections.isNegative { sums["credit", default: .zero] += corrections } else { sums["adjustment", default: .zero] += corrections }
        for sku in skus.keys { for (c, a) in skuBridge(sku) { sums[c, default: .zero] += a } }
        // Late usage of a closed period is estimated here but billed on that period's invoices.
        sums["unmatched_usage", default: .zero] -= estimatedCorrections
        let explained = sums.values.sum()
        sums["unexplained"] = variance - explained
        return Self.categories.compactMap { c in
            let a = sums[c] ?? .zero
            return a.isZero && c != "unexplained" ? nil : (c, a)
        }
    }
}

/// The reconciliation of one billing period.
public struct Reconciliation: Sendable {
    public var period: BillingPeriod
    public var accounts: [AccountReconciliation]
    /// Budget status, policy violations and the alerts they raise (from budgets.csv, policies.csv).
    public var budgets: [JSONValue] = []
    public var violations: [JSONValue] = []
    public var alerts: [JSONValue] = []
    /// Spikes, model upgrades and runaway loops, with their evidence (see `Anomalies`).
    public var anomalies: [JSONValue] = []
    /// Gauges above their plan's cap (`dataset_storage` beyond the plan's MB): provider, account,
    /// SKU, the capped quantity and the excess, from the estimate's `Above plan cap` rows.
    public var planCaps: [JSONValue] = []
    /// Estimated Usage cost per UTC day (`YYYY-MM-DD`) and provider, for the daily chart.
    public var dailySpend: [String: [String: ExactDecimal]] = [:]

    public init(period: BillingPeriod, accounts: [AccountReconciliation]) {
        self.period = period
        self.accounts = accounts
    }

    /// For each account without an invoice yet: the amount to accrue (the estimate), per team.
    public var accruals: [JSONValue] {
        accounts.filter { $0.status == .missingInvoice && !$0.estimated.isZero }.map { a in
            .object([
                ("provider", .string(a.provider)), ("billing_account_id", .string(a.billingAccountId)),
                ("currency", .string(a.currency)), ("amount", .string(a.estimated.description)),
                ("by_team", .array(a.estimatedByTeam.sorted { $0.key < $1.key }.map {
                    .object([("team", .string($0.key)), ("amount", .string($0.value.description))])
                })),
            ])
        }
    }

    /// One row per account × SKU × bridge category (account-level categories have no SKU).
    public var csv: String {
        var out = CSVWriter.line(["billing_period", "provider", "billing_account_id", "currency", "sku_id", "category", "amount"])
        for a in accounts {
            let skuCategories: Set<String> = ["price", "quantity", "rounding", "unpriced_usage", "unmatched_invoice_line", "unmatched_usage"]
            for sku in a.skus.keys.sorted() {
                for b in a.skuBridge(sku) {
                    out += CSVWriter.line([period.description, a.provider, a.billingAccountId, a.currency, sku, b.category, b.amount.description])
                }
            }
            for b in a.bridge {
                // SKU categories are listed per SKU above, except rounding, which also has a document part.
                // Likewise unmatched_usage, which also has the corrections of closed periods.
                if skuCategories.contains(b.category) && b.category != "rounding" && b.category != "unmatched_usage" { continue }
                var amount = b.amount
                if b.category == "rounding" { amount = a.documentRounding; if amount.isZero { continue } }
                if b.category == "unmatched_usage" { amount = -a.estimatedCorrections; if amount.isZero { continue } }
                out += CSVWriter.line([period.description, a.provider, a.billingAccountId, a.currency, nil, b.category, amount.description])
            }
        }
        return out
    }

    public var json: JSONValue {
        .object([
            ("billing_period", .string(period.description)),
            ("accounts", .array(accounts.map { a in
                .object([
                    ("provider", .string(a.provider)),
                    ("billing_account_id", .string(a.billingAccountId)),
                    ("billing_account_name", .optional(a.billingAccountName)),
                    ("currency", .string(a.currency)),
                    ("invoice_ids", .array(a.invoiceIds.map(JSONValue.string))),
                    ("estimated", .string(a.estimated.description)),
                    ("provider_reported", a.providerReported.map { .string($0.description) } ?? .null),
                    ("invoiced", .string(a.invoiced.description)),
                    ("variance", .string(a.variance.description)),
                    ("status", .string(a.status.rawValue)),
                    ("tolerance", a.tolerance.json),
                    ("estimated_rows", .number(String(a.estimatedRows))),
                    ("invoiced_rows", .number(String(a.invoicedRows))),
                    ("estimated_corrections", .string(a.estimatedCorrections.description)),
                    ("estimated_by_category", .object(a.estimatedByCategory.sorted { $0.key < $1.key }
                        .map { ($0.key, .string($0.value.description)) })),
                    ("invoiced_by_category", .object(a.invoicedByCategory.sorted { $0.key < $1.key }
                        .map { ($0.key, .string($0.value.description)) })),
                    ("bridge", .array(a.bridge.map { .object([("category", .string($0.category)), ("amount", .string($0.amount.description))]) })),
                    ("skus", .array(a.skus.keys.sorted().map { sku in
                        let t = a.skus[sku]!
                        return .object([
                            ("sku_id", .string(sku)),
                            ("estimated_quantity", .string(t.estimatedQuantity.description)),
                            ("invoiced_quantity", .string(t.invoicedQuantity.description)),
                            ("estimated_cost", .string(t.estimatedCost.description)),
                            ("invoiced_cost", .string(t.invoicedCost.description)),
                            ("bridge", .array(a.skuBridge(sku).map { .object([("category", .string($0.category)), ("amount", .string($0.amount.description))]) })),
                        ])
                    })),
                    ("unpriced_usage", .array(a.unpriced)),
                    ("estimated_by_team", .object(a.estimatedByTeam.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.description)) })),
                    ("spend_ceiling", a.ceiling.map { c in .object([
                        ("label", .string(c.label)), ("amount", .string(c.amount.description)),
                        ("estimated_share", .string((a.estimated.divided(by: c.amount, scale: 4, .halfAwayFromZero) ?? .zero).description)),
                    ]) } ?? .null),
                ])
            })),
            ("accruals", .array(accruals)),
            ("budgets", .array(budgets)),
            ("policy_violations", .array(violations)),
            ("anomalies", .array(anomalies)),
            ("plan_caps", .array(planCaps)),
        ])
    }

    public var markdown: String {
        var s = "# Reconciliation, billing period \(period)\n\n"
        s += "Estimated = usage × rate card (exact); invoiced = the invoices as FOCUS rows (Σ BilledCost); "
        s += "variance = invoiced − estimated. Amounts are shown to the cent, rounded half away from zero; "
        s += "`reconciliation.json` has them exact.\n\n"
        s += "| Provider | Billing account | Currency | Invoices | Estimated | Invoiced | Variance | Status |\n"
        s += "|---|---|---|---|---:|---:|---:|---|\n"
        for a in accounts {
            let name = a.billingAccountName.map { "\(a.billingAccountId) (\($0))" } ?? a.billingAccountId
            s += "| \(a.provider) | \(name) | \(a.currency) | \(a.invoiceIds.isEmpty ? "—" : a.invoiceIds.joined(separator: ", ")) "
            s += "| \(cents(a.estimated)) | \(cents(a.invoiced)) | \(cents(a.variance)) | \(a.status.rawValue) |\n"
        }
        if !budgets.isEmpty {
            s += "\n## Budgets\n\n| Scope | Value | Budget | Spend | Share | Forecast | Status |\n|---|---|---:|---:|---:|---:|---|\n"
            for b in budgets {
                func c(_ k: String) -> String { b[k]?.string.flatMap { ExactDecimal($0) }.map(cents) ?? "" }
                s += "| \(b["scope"]?.string ?? "") | \(b["value"]?.string ?? "") | \(c("budget")) | \(c("spend")) "
                s += "| \(b["share"]?.string ?? "") | \(c("forecast")) | \(b["status"]?.string ?? "") |\n"
            }
        }
        if !violations.isEmpty {
            s += "\n## Model policy violations\n\n| Team | Model | Cost | Rule | First seen | Last seen |\n|---|---|---:|---|---|---|\n"
            for v in violations {
                s += "| \(v["team"]?.string ?? "") | \(v["model"]?.string ?? "") | \(v["cost"]?.string.flatMap { ExactDecimal($0) }.map(cents) ?? "") "
                s += "| \(v["rule"]?.string ?? "") | \(v["first_seen"]?.string ?? "") | \(v["last_seen"]?.string ?? "") |\n"
            }
        }
        if !planCaps.isEmpty {
            s += "\n## Usage above plan caps\n\n| Provider | Billing account | SKU | Cap | Above the cap |\n|---|---|---|---:|---:|\n"
            for c in planCaps {
                let v = { (k: String) in c[k]?.string ?? "" }
                s += "| \(v("provider")) | \(v("billing_account")) | \(v("sku_id")) | \(v("cap")) | \(v("above_cap")) |\n"
            }
        }
        if !anomalies.isEmpty {
            s += "\n## Anomalies\n\n| Day | Kind | Tag | Evidence |\n|---|---|---|---|\n"
            for a in anomalies {
                let v = { (k: String) in a[k]?.string ?? a[k].map { JSONWriter.write($0) } ?? "" }
                let evidence: String
                switch v("kind") {
                case "spike": evidence = "spend \(v("spend")) against a baseline of \(v("baseline")) a day (\(v("baseline_from")) to \(v("baseline_through"))), ×\(v("ratio"))"
                case "model_upgrade": evidence = "input tokens moved from \(v("from_model")) to \(v("to_model")) (\(v("share_of_input_tokens")) of the day's), price per million \(v("from_input_price_per_million")) → \(v("to_input_price_per_million")), ×\(v("price_ratio"))"
                default: evidence = "\(v("requests")) requests against a baseline of \(v("baseline_requests")), distinct users \(v("distinct_users")) (baseline \(v("baseline_distinct_users"))); top user \(v("top_user")) with \(v("top_user_requests"))"
                }
                s += "| \(v("day")) | \(v("kind")) | \(v("tag"))=\(v("value")) | \(evidence) |\n"
            }
        }
        for a in accounts {
            s += "\n## \(a.provider) \(a.billingAccountId): variance \(cents(a.variance)) \(a.currency)\n\n"
            if let reported = a.providerReported {
                s += "The provider's own cost report says \(cents(reported)) \(a.currency) (estimate − report: \(cents(a.estimated - reported))).\n\n"
            }
            if !a.estimatedCorrections.isZero {
                s += "Corrections of closed periods (late usage, ChargeClass=Correction) add \(cents(a.estimatedCorrections)) \(a.currency) "
                s += "to the estimate; no invoice line of this period bills them (`unmatched_usage`).\n\n"
            }
            if let c = a.ceiling {
                s += "Spend ceiling (\(c.label)): \(cents(c.amount)) \(a.currency); estimated spend is \(cents(a.estimated)) "
                s += "(\((a.estimated * 100).divided(by: c.amount, scale: 1, .halfAwayFromZero) ?? .zero)%).\n\n"
            }
            if !a.unpriced.isEmpty {
                s += "Unpriced usage (no rate in the rate cards; not in the estimate, never priced at $0):\n\n"
                s += "| Model | Meter | Tier | Quantity | Records |\n|---|---|---|---:|---:|\n"
                for u in a.unpriced {
                    s += "| \(u["model"]?.string ?? "") | \(u["meter"]?.string ?? "") | \(u["service_tier"]?.string ?? "") "
                    s += "| \(u["quantity"]?.decimal?.description ?? "") | \(u["records"].map { JSONWriter.write($0) } ?? "") |\n"
                }
                s += "\n"
            }
            s += "| Cause | Amount |\n|---|---:|\n"
            for b in a.bridge { s += "| \(b.category) | \(cents(b.amount)) |\n" }
            s += "| **total** | **\(cents(a.variance))** |\n"
            if !a.skus.isEmpty {
                s += "\n| SKU | Estimated qty | Invoiced qty | Estimated | Invoiced | Explained by |\n|---|---:|---:|---:|---:|---|\n"
                for sku in a.skus.keys.sorted() {
                    let t = a.skus[sku]!
                    let why = a.skuBridge(sku).map { "\($0.category) \(cents($0.amount))" }.joined(separator: ", ")
                    s += "| \(sku) | \(t.estimatedQuantity) | \(t.invoicedQuantity) | \(cents(t.estimatedCost)) | \(cents(t.invoicedCost)) | \(why.isEmpty ? "—" : why) |\n"
                }
            }
        }
        return s
    }

    func cents(_ d: ExactDecimal) -> String { d.formatted(fractionDigits: 2, .halfAwayFromZero) }
}

/// The reconcile stage: staged FOCUS rows → `staging/reconcile/billing_period=…/reconciliation.{json,md}`.
public struct ReconcileStage {
    public let layout: Layout
    public let period: BillingPeriod?
    /// A variance whose magnitude is at most this is `within_tolerance`.
    public let tolerance: ExactDecimal
    public let logger: Logger

    public init(layout: Layout, period: BillingPeriod?, tolerance: ExactDecimal, logger: Logger) {
        self.layout = layout
        self.period = period
        self.tolerance = tolerance
        self.logger = logger
    }

    /// Changes `value` in place (for a dictionary's `[key, default:]` slot: one lookup, no copy).
    @inline(__always)
    static func update<T>(_ value: inout T, _ change: (inout T) -> Void) { change(&value) }

    public func run() throws -> (StageReport, [Reconciliation]) {
        var report = StageReport(stage: "reconcile")
        let staged = period.map { [$0] } ?? Array(Set(layout.stagedPeriods("estimated") + layout.stagedPeriods("invoiced"))).sorted()
        guard !staged.isEmpty else {
            throw ReckonError(.missingInput, "no staged FOCUS rows: run reckon-transform first", at: SourcePosition(file: layout.stageFolder("transform")))
        }
        // A closed period keeps its signed-off report; its late changes are reconciled where they are booked.
        let closed = try ClosedPeriods.load(layout)
        let periods = staged.filter { !closed.contains($0) }
        for p in staged where closed.contains(p) { report.notes.append("\(p) is closed: not reconciled again") }
        let ceilings = try SpendCeilings.load(path: layout.input + "/limits.csv")
        let tolerances = try Tolerances.load(path: layout.input + "/tolerances.csv")
        let governance = try Governance.load(input: layout.input)
        let anomalies = try Anomalies.load(input: layout.input)
        var results: [Reconciliation] = []
        for p in periods {
            var accounts: [String: AccountReconciliation] = [:]
            var tally = Governance.UsageTally(governance: governance, anomalies: anomalies)
            var daily: [String: [String: ExactDecimal]] = [:]
            // Rows come day by day: a day's spend per provider is summed apart and added once the
            // day changes (one lookup a row where there were two).
            var day: (start: Int64, text: String, byProvider: [String: ExactDecimal]) = (.min, "", [:])
            func closeDay() {
                guard !day.byProvider.isEmpty else { return }
                for (provider, v) in day.byProvider { daily[day.text, default: [:]][provider, default: .zero] += v }
                day.byProvider.removeAll(keepingCapacity: true)
            }
            // Rows of one account come one after another: the account being summed stays out of
            // `accounts` until a row of another comes (no key built and no lookup per row).
            var current: (provider: String, account: String, currency: String, totals: AccountReconciliation)?
            func putBack() {
                guard let c = current else { return }
                current = nil
                accounts[c.provider + "|" + c.account + "|" + c.currency] = c.totals
            }
            // Gauge rows per (provider, account, SKU): the part within the cap and the part above it.
            var gauges: [String: (provider: String, account: String, sku: String, within: ExactDecimal, above: ExactDecimal?)] = [:]
            for dataset in ["estimated", "invoiced"] {
                let path = layout.stagedDataset(dataset, p)
                guard FileSystem.exists(path) else { continue }
                var counts = RowCounts()
                try FocusReader.forEachRow(at: path, only: Self.columnsRead) { row in
                    counts.rowsRead += 1
                    if dataset == "estimated" { tally.add(row) }
                    let provider = row[.serviceProviderName].string ?? "unknown"
                    let account = row[.billingAccountId].string ?? ""
                    if dataset == "estimated", let sub = row[.xChargeSubType].string, sub == "Above plan cap" || sub == "Included allowance",
                       let sku = row[.skuId].string, let q = row[.consumedQuantity].decimal {
                        let k = provider + "|" + account + "|" + sku
                        var g = gauges[k] ?? (provider, account, sku, .zero, nil)
                        if sub == "Above plan cap" { g.above = (g.above ?? .zero) + q } else { g.within += q }
                        gauges[k] = g
                    }
                    let currency = row[.billingCurrency].string ?? ""
                    if let c = current, c.provider != provider || c.account != account || c.currency != currency { putBack() }
                    // Taken out while it changes, so that its dictionaries are changed in place (a copy
                    // left in `accounts` made every row copy the account's SKU table).
                    var a = current?.totals ?? accounts.removeValue(forKey: provider + "|" + account + "|" + currency)
                        ?? AccountReconciliation(provider: provider, billingAccountId: account, currency: currency)
                    current = nil
                    a.billingAccountName = a.billingAccountName ?? row[.billingAccountName].string
                    let billed = row[.billedCost].decimal ?? .zero
                    let category = row[.chargeCategory].string ?? "?"
                    let correction = row[.chargeClass].string == "Correction"
                    if dataset == "invoiced" && correction && (category == "Usage" || category == "Purchase") {
                        // A correction of an earlier period is not this period's usage: no SKU match.
                        a.corrections += billed
                    } else if dataset == "estimated" && correction {
                        // Late usage of a closed period: no invoice line of this period bills it.
                        a.estimatedCorrections += billed
                    } else if (category == "Usage" || category == "Purchase"), let sku = row[.skuId].string {
                        let q = row[.consumedQuantity].decimal ?? row[.pricingQuantity].decimal ?? .zero
                        let list = dataset == "estimated" ? nil : row[.listCost].decimal ?? billed
                        Self.update(&a.skus[sku, default: AccountReconciliation.SkuTotals()]) { t in
                            if let list {
                                t.invoicedQuantity += q; t.invoicedCost += billed
                                t.invoicedListCost += list; t.onInvoice = true
                            } else {
                                t.estimatedQuantity += q; t.estimatedCost += billed; t.inEstimate = true
                            }
                        }
                    }
                    if dataset == "estimated" {
                        a.estimated += billed
                        a.estimatedRows += 1
                        if category == "Usage" && !correction, case .dateTime(let start) = row[.chargePeriodStart] {
                            if start.secondsSinceEpoch != day.start {
                                closeDay()
                                (day.start, day.text) = (start.secondsSinceEpoch, start.date.description)
                            }
                            day.byProvider[provider, default: .zero] += billed
                        }
                        var team = "(untagged)"
                        if case .json(let tags) = row[.tags], let v = tags.first(where: { $0.key == "team" })?.value.string { team = v }
                        if correction {
                            team = "(corrections of closed periods)"
                        } else if category != "Usage" && category != "Purchase" {
                            team = "(tax, credits, rounding)"
                            a.estimatedByCategory[category, default: .zero] += billed
                            if category == "Adjustment" { a.estimatedAdjustments[row[.xChargeSubType].string ?? "Other", default: .zero] += billed }
                        }
                        a.estimatedByTeam[team, default: .zero] += billed
                    } else {
                        a.invoiced += billed
                        a.invoicedRows += 1
                        a.invoicedByCategory[category, default: .zero] += billed
                        if category == "Adjustment" { a.adjustments[row[.xChargeSubType].string ?? "Other", default: .zero] += billed }
                        if let id = row[.invoiceId].string, !a.invoiceIds.contains(id) { a.invoiceIds.append(id) }
                    }
                    current = (provider, account, currency, a)
                    counts.rowsOut += 1
                }
                putBack()
                closeDay()
                report.sources.append(.init(file: path, kind: "focus." + dataset, counts: counts))
            }
            // The provider's own cost report, the third leg.
            let costs = layout.stageFolder("extract") + "/provider_costs.jsonl"
            if FileSystem.exists(costs) {
                let lines = LineReader(stream: try ByteStream(path: costs))
                while let v = try lines.next({ $0.isEmpty ? nil : try JSONParser.parse($0) }) {
                    guard let v, let account = v["billing_account"]?.string, let provider = v["provider"]?.string,
                          let currency = v["currency"]?.string, let amount = v["amount"]?.decimal,
                          let start = v["period_start"]?.string.flatMap({ Timestamp(rfc3339: $0) }), p.contains(start) else { continue }
                    let name = ProviderProfile.name(of: provider)
                    let key = name + "|" + account + "|" + currency
                    var a = accounts[key] ?? AccountReconciliation(provider: name, billingAccountId: account, currency: currency)
                    a.providerReported = (a.providerReported ?? .zero) + amount
                    accounts[key] = a
                }
            }
            // Unpriced usage from transform, per account.
            if FileSystem.exists(layout.stagedUnpriced(p)) {
                let lines = LineReader(stream: try ByteStream(path: layout.stagedUnpriced(p)))
                while let v = try lines.next({ $0.isEmpty ? nil : try JSONParser.parse($0) }) {
                    guard let v, let account = v["billing_account"]?.string, let provider = v["provider"]?.string else { continue }
                    let profile = ProviderProfile.name(of: provider)
                    let key = accounts.keys.first { $0.hasPrefix(profile + "|" + account + "|") } ?? (profile + "|" + account + "|USD")
                    var a = accounts[key] ?? AccountReconciliation(provider: profile, billingAccountId: account, currency: "USD")
                    a.unpriced.append(v)
                    if let model = v["model"]?.string, let meter = v["meter"]?.string { a.unpricedSkus.insert("\(provider):\(model):\(meter)") }
                    accounts[key] = a
                }
            }
            var list = accounts.values.sorted { ($0.provider, $0.billingAccountId, $0.currency) < ($1.provider, $1.billingAccountId, $1.currency) }
            for k in list.indices {
                list[k].ceiling = ceilings.ceiling(provider: list[k].provider, account: list[k].billingAccountId)
                list[k].tolerance = tolerances.table[list[k].provider + "|" + list[k].billingAccountId] ?? Tolerance(absolute: tolerance)
                list[k].invoiceIds.sort()
                list[k].status = status(list[k])
            }
            var rec = Reconciliation(period: p, accounts: list)
            rec.dailySpend = daily
            (rec.budgets, rec.violations, rec.alerts) = governance.evaluate(tally, period: p)
            for (_, g) in gauges.sorted(by: { $0.key < $1.key }) {
                guard let above = g.above else { continue }
                let cap: JSONValue = .object([("provider", .string(g.provider)), ("billing_account", .string(g.account)), ("sku_id", .string(g.sku)),
                                              ("cap", .string(g.within.description)), ("above_cap", .string(above.description))])
                rec.planCaps.append(cap)
                rec.alerts.append(.object([("kind", .string("plan_cap_exceeded")), ("billing_period", .string(p.description)), ("plan_cap", cap)]))
            }
            // Anomalies: daily spend and model mix from the estimate, requests from transform's activity file.
            var activity: [Anomalies.Activity] = []
            if FileSystem.exists(layout.stagedActivity(p)) {
                let lines = LineReader(stream: try ByteStream(path: layout.stagedActivity(p)))
                while let v = try lines.next({ $0.isEmpty ? nil : try JSONParser.parse($0) }) {
                    guard let v, let day = v["day"]?.string.flatMap({ CivilDate($0) }), case .number(let n)? = v["requests"], let requests = Int(n) else {
                        throw ReckonError(.badData, "not an activity record", at: SourcePosition(file: layout.stagedActivity(p), line: lines.lineNumber))
                    }
                    var tags: [String: String] = [:]
                    if case .object(let m)? = v["tags"] { for (k, t) in m { if let s = t.string { tags[k] = s } } }
                    activity.append(.init(day: day, tags: tags, requests: requests))
                }
            }
            rec.anomalies = anomalies.detect(tally, activity: activity, period: p)
            rec.alerts += rec.anomalies.map { a in
                .object([("kind", .string("anomaly_" + (a["kind"]?.string ?? ""))), ("billing_period", .string(p.description)), ("anomaly", a)])
            }
            try OutputFile.write(rec.alerts.map { JSONWriter.write($0) + "\n" }.joined(), to: layout.stagedReport(p, "alerts.jsonl"))
            report.outputs.append(layout.stagedReport(p, "alerts.jsonl"))
            for alert in rec.alerts { logger.warning("alert", metadata: ["alert": "\(JSONWriter.write(alert))"]) }
            try OutputFile.write(JSONWriter.write(rec.json, pretty: true) + "\n", to: layout.stagedReport(p, "reconciliation.json"))
            try OutputFile.write(rec.markdown, to: layout.stagedReport(p, "reconciliation.md"))
            try OutputFile.write(rec.csv, to: layout.stagedReport(p, "reconciliation.csv"))
            try OutputFile.write(ReportHTML.render(rec), to: layout.stagedReport(p, "index.html"))
            report.outputs += [layout.stagedReport(p, "reconciliation.json"), layout.stagedReport(p, "reconciliation.md"),
                               layout.stagedReport(p, "reconciliation.csv"), layout.stagedReport(p, "index.html")]
            results.append(rec)
        }
        try report.write(to: layout.manifest("reconcile"), relativeTo: layout.output)
        return (report, results)
    }

    /// The columns reconcile reads of the staged rows (the rest is not decoded).
    static let columnsRead: Set<FocusColumn> = [
        .serviceProviderName, .billingAccountId, .billingAccountName, .billingCurrency, .billedCost, .chargeCategory, .chargeClass,
        .skuId, .consumedQuantity, .pricingQuantity, .listCost, .tags, .xChargeSubType, .invoiceId, .chargePeriodStart,
        .chargePeriodEnd, .subAccountId,
    ]

    func status(_ a: AccountReconciliation) -> AccountReconciliation.Status {
        if a.invoicedRows == 0 { return .missingInvoice }
        if a.estimatedRows == 0 { return .missingUsage }
        if a.variance.isZero { return .matched }
        if a.tolerance.allows(a.variance, invoiced: a.invoiced) { return .withinTolerance }
        return a.variance.isNegative ? .under : .over
    }
}

/// How far invoiced may be from estimated and still count as `within_tolerance`: an absolute
/// amount, a share of the invoiced amount, or both (either suffices).
public struct Tolerance: Sendable {
    public var absolute: ExactDecimal?
    /// Percent of |invoiced|.
    public var relativePercent: ExactDecimal?

    public func allows(_ variance: ExactDecimal, invoiced: ExactDecimal) -> Bool {
        if let absolute, variance.magnitude <= absolute { return true }
        if let relativePercent, variance.magnitude * 100 <= relativePercent * invoiced.magnitude { return true }
        return false
    }

    var json: JSONValue {
        .object([("absolute", absolute.map { .string($0.description) } ?? .null),
                 ("relative_percent", relativePercent.map { .string($0.description) } ?? .null)])
    }
}

/// Per-account tolerances from the optional `tolerances.csv`:
/// `provider,billing_account,absolute,relative_percent` (either amount may be empty). Accounts not
/// listed get `reckon-reconcile --tolerance` (absolute).
struct Tolerances {
    var table: [String: Tolerance] = [:]

    static func load(path: String) throws -> Tolerances {
        var result = Tolerances()
        for (line, f) in try ConfigFile.rows(path, header: ["provider", "billing_account", "absolute", "relative_percent"]) {
            let absolute = f[2].isEmpty ? nil : ExactDecimal(f[2]), relative = f[3].isEmpty ? nil : ExactDecimal(f[3])
            guard !f[0].isEmpty, !f[1].isEmpty, f[2].isEmpty || (absolute.map { !$0.isNegative } ?? false),
                  f[3].isEmpty || (relative.map { !$0.isNegative } ?? false), absolute != nil || relative != nil else {
                throw ReckonError(.badData, "expected provider,billing_account,absolute,relative_percent (decimals ≥ 0; at least one)",
                                  at: SourcePosition(file: path, line: line))
            }
            result.table[ProviderProfile.name(of: f[0].lowercased()) + "|" + f[1]] = Tolerance(absolute: absolute, relativePercent: relative)
        }
        return result
    }
}

/// Provider names as FOCUS writes them (`anthropic` → `Anthropic`), to match staged unpriced usage to accounts.
enum ProviderProfile {
    static func name(of id: String) -> String {
        switch id {
        case "anthropic": return "Anthropic"
        case "openai": return "OpenAI"
        case "google": return "Google"
        case "promptlayer": return "PromptLayer"
        default: return id
        }
    }
}

/// Monthly spend ceilings per account (Anthropic usage tiers: Tier 1 $100, Tier 2 $500, Tier 3
/// $1,000, Tier 4 $200,000), from the optional `limits.csv`: `provider,billing_account,monthly_limit,label`.
struct SpendCeilings {
    var table: [String: (ExactDecimal, String)] = [:]

    static func load(path: String) throws -> SpendCeilings {
        var result = SpendCeilings()
        for (line, f) in try ConfigFile.rows(path, header: ["provider", "billing_account", "monthly_limit", "label"]) {
            guard let l = ExactDecimal(f[2]), l > .zero else {
                throw ReckonError(.badData, "expected provider,billing_account,monthly_limit (a positive decimal),label", at: SourcePosition(file: path, line: line))
            }
            result.table[ProviderProfile.name(of: f[0].lowercased()) + "|" + f[1]] = (l, f[3])
        }
        return result
    }

    func ceiling(provider: String, account: String) -> (amount: ExactDecimal, label: String)? {
        table[provider + "|" + account].map { (amount: $0.0, label: $0.1) }
    }
}
