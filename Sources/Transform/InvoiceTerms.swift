import ReckonCore
import ReckonFocus

/// What an account's invoice adds to its usage and plan fees, so that the estimate is an estimate
/// of the *invoice*, not only of the usage: known credit grants (`credits.csv`), VAT or sales tax
/// (`taxes.csv`), and the rounding of the document to the currency's minor unit.
///
/// For each billing period × provider × billing account × currency with estimated charges, in
/// this order (the order an EN 16931 invoice computes its totals):
/// 1. **Credit** — each grant valid in the period draws down min(balance, charges left) (grants in
///    `credits.csv` order; a grant's balance carries to the next period of the same run);
/// 2. **Adjustment** (`x_ChargeSubType=Rounding`) — the net (charges − credits) rounded to the
///    currency's minor unit, ties away from zero, minus the exact net: the invoice states cents;
/// 3. **Tax** — rate × rounded net, rounded to the minor unit, ties away from zero (EN 16931
///    rounds each VAT category amount); one row per tax rule in force on the period's first day.
///
/// Rows with a zero amount are not written. Memory: O(accounts × periods) sums.
public struct InvoiceTerms: Sendable {
    public struct TaxRule: Sendable {
        public var category: String
        public var ratePercent: ExactDecimal
        public var from: CivilDate
    }

    public struct CreditGrant: Sendable {
        public var id: String
        public var amount: ExactDecimal
        public var currency: String
        public var from: CivilDate
        /// Last day the grant may be used (inclusive); `nil` = no end.
        public var through: CivilDate?
        public var description: String
    }

    /// "provider|account" → rules / grants, in file order.
    public private(set) var taxes: [String: [TaxRule]] = [:]
    public private(set) var credits: [String: [CreditGrant]] = [:]

    public init() {}

    /// Loads the optional `taxes.csv` and `credits.csv` of an input folder.
    public static func load(input: String) throws -> InvoiceTerms {
        var t = InvoiceTerms()
        try readTable(input + "/taxes.csv", header: ["provider", "billing_account", "tax_category", "rate_percent", "effective_from"]) { f, at in
            guard let rate = ExactDecimal(f[3]), !rate.isNegative, let from = CivilDate(f[4]), !f[2].isEmpty else {
                throw ReckonError(.badData, "expected provider,billing_account,tax_category,rate_percent (a decimal ≥ 0),effective_from (YYYY-MM-DD)", at: at)
            }
            t.taxes[f[0].lowercased() + "|" + f[1], default: []].append(TaxRule(category: f[2], ratePercent: rate, from: from))
        }
        try readTable(input + "/credits.csv",
                      header: ["provider", "billing_account", "credit_id", "amount", "currency", "valid_from", "valid_through", "description"]) { f, at in
            guard !f[2].isEmpty, let amount = ExactDecimal(f[3]), amount > .zero, f[4].count == 3, let from = CivilDate(f[5]) else {
                throw ReckonError(.badData, "expected provider,billing_account,credit_id,amount (a positive decimal),currency (ISO 4217),valid_from (YYYY-MM-DD),valid_through,description", at: at)
            }
            let through = f[6].isEmpty ? nil : CivilDate(f[6])
            if !f[6].isEmpty && through == nil { throw ReckonError(.badData, "valid_through must be YYYY-MM-DD or empty", at: at) }
            let key = f[0].lowercased() + "|" + f[1]
            if t.credits[key]?.contains(where: { $0.id == f[2] }) == true {
                throw ReckonError(.badData, "credit \(f[2]) is listed twice for \(f[1])", at: at)
            }
            t.credits[key, default: []].append(CreditGrant(id: f[2], amount: amount, currency: f[4], from: from, through: through,
                                                           description: f[7].isEmpty ? "Credit \(f[2])" : f[7]))
        }
        return t
    }

    /// Calls `body` with the fields and position of each record of a config file (see `ConfigFile`).
    private static func readTable(_ path: String, header: [String], _ body: ([String], SourcePosition) throws -> Void) throws {
        for (line, f) in try ConfigFile.rows(path, header: header) { try body(f, SourcePosition(file: path, line: line)) }
    }

    /// The estimated charges of one account in one period, summed as rows are written.
    public struct AccountCharges: Sendable {
        public var provider: String
        public var account: String
        public var accountName: String?
        public var currency: String
        public var charges: ExactDecimal = .zero
    }

    /// Running sums of estimated Usage and Purchase rows per period and account.
    public struct Totals: Sendable {
        var byPeriod: [BillingPeriod: [String: AccountCharges]] = [:]
        public init() {}

        public mutating func add(_ row: FocusRow, period: BillingPeriod) {
            guard let sku = row[.skuId].string, let account = row[.billingAccountId].string,
                  let currency = row[.billingCurrency].string, let billed = row[.billedCost].decimal else { return }
            add(provider: String(sku.prefix { $0 != ":" }), account: account, accountName: row[.billingAccountName].string,
                currency: currency, billed: billed, period: period)
        }

        public mutating func add(provider: String, account: String, accountName: String?, currency: String, billed: ExactDecimal,
                                 period: BillingPeriod) {
            let key = provider + "|" + account + "|" + currency
            var a = byPeriod[period, default: [:]][key]
                ?? AccountCharges(provider: provider, account: account, accountName: accountName, currency: currency)
            a.charges += billed
            byPeriod[period, default: [:]][key] = a
        }
    }

    /// Minor-unit digits of a currency (ISO 4217): 0 for JPY, KRW and the like, 3 for the dinars, else 2.
    static func minorUnits(_ currency: String) -> Int {
        switch currency {
        case "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG": return 0
        case "BHD", "KWD", "OMR", "JOD", "TND", "LYD", "IQD": return 3
        default: return 2
        }
    }

    /// Credit, rounding and tax rows for `period`, after its usage and plan rows.
    /// - Parameter balances: what is left of each grant ("provider|account|credit_id"); updated.
    public func documentRows(period: BillingPeriod, totals: Totals, balances: inout [String: ExactDecimal],
                             timeZones: BillingTimeZones = .init()) -> [FocusRow] {
        var out: [FocusRow] = []
        let accounts = totals.byPeriod[period] ?? [:]
        for key in accounts.keys.sorted() {
            let a = accounts[key]!
            let profile = ProviderProfile.named(a.provider)
            func flat(_ category: String, _ description: String, _ amount: ExactDecimal, subType: String?) -> FocusRow {
                var r = FocusRow()
                for c in [FocusColumn.billedCost, .effectiveCost, .listCost, .contractedCost, .pricingCurrencyEffectiveCost] { r.set(c, amount) }
                r.set(.billingAccountId, a.account)
                r.set(.billingAccountName, a.accountName ?? a.account)
                r.set(.billingCurrency, a.currency)
                r.set(.pricingCurrency, a.currency)
                let bounds = BillingTimeZones.bounds(period, offset: timeZones.offset(a.provider))
                r.set(.billingPeriodStart, bounds.start)
                r.set(.billingPeriodEnd, bounds.end)
                r.set(.chargePeriodStart, bounds.start)
                r.set(.chargePeriodEnd, bounds.end)
                r.set(.chargeCategory, category)
                r.set(.chargeDescription, description)
                r.set(.chargeFrequency, "One-Time")
                r.setService(profile)
                r.set(.xChargeSubType, subType)
                return r
            }
            let accountKey = a.provider + "|" + a.account
            var net = a.charges
            for grant in credits[accountKey] ?? [] where grant.currency == a.currency {
                guard grant.from < period.next.firstDay, grant.through.map({ $0 >= period.firstDay }) ?? true else { continue }
                let balanceKey = accountKey + "|" + grant.id
                let left = balances[balanceKey] ?? grant.amount
                let used = min(left, max(net, .zero))
                balances[balanceKey] = left - used
                guard !used.isZero else { continue }
                net -= used
                out.append(flat("Credit", grant.description + " (credit \(grant.id), estimated drawdown)", -used, subType: "Credit grant"))
            }
            let digits = Self.minorUnits(a.currency)
            let roundedNet = net.rounded(scale: digits, .halfAwayFromZero)
            if roundedNet != net {
                out.append(flat("Adjustment", "Rounding of the estimated invoice to the currency's minor unit", roundedNet - net, subType: "Rounding"))
            }
            let rules = (taxes[accountKey] ?? []).filter { $0.from <= period.firstDay }
            // The latest rule per tax category is the one in force.
            var inForce: [String: TaxRule] = [:]
            for r in rules where inForce[r.category].map({ $0.from <= r.from }) ?? true { inForce[r.category] = r }
            for category in inForce.keys.sorted() {
                let rule = inForce[category]!
                let tax = (roundedNet * rule.ratePercent).divided(by: 100, scale: digits, .halfAwayFromZero) ?? .zero
                guard !tax.isZero else { continue }
                out.append(flat("Tax", "Estimated tax \(category) \(InvoicedRowBuilder.percentText(rule.ratePercent))%", tax, subType: nil))
            }
        }
        return out
    }
}
