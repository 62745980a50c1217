import ReckonCore
import ReckonExtract
import ReckonFocus
import ReckonPricing

/// Which SaaS plan each account is on, and from when: the optional `plans.csv`
/// (`provider,billing_account,plan,seats,effective_from`). A row starts a plan segment that
/// lasts until the account's next row (or open-ended).
public struct PlanSchedule: Sendable {
    public struct Segment: Sendable, Equatable {
        public var plan: String
        public var seats: Int
        public var from: CivilDate
        /// Exclusive; `nil` = still in force.
        public var to: CivilDate?
    }

    /// (provider, billing account) → segments in date order.
    public private(set) var segments: [String: [Segment]] = [:]

    public init() {}

    public var isEmpty: Bool { segments.isEmpty }

    public static func load(path: String) throws -> PlanSchedule {
        var result = PlanSchedule()
        var rows: [String: [Segment]] = [:]
        for (line, f) in try ConfigFile.rows(path, header: ["provider", "billing_account", "plan", "seats", "effective_from"]) {
            let at = SourcePosition(file: path, line: line)
            let (p, a, plan) = (f[0], f[1], f[2])
            guard !plan.isEmpty, let seats = Int(f[3]), seats >= 0, let from = CivilDate(f[4]) else {
                throw ReckonError(.badData, "expected provider,billing_account,plan,seats (a whole number),effective_from (YYYY-MM-DD)", at: at)
            }
            let key = p.lowercased() + "|" + a
            if rows[key]?.contains(where: { $0.from == from }) == true {
                throw ReckonError(.badData, "two plans for \(a) start on \(from)", at: at)
            }
            rows[key, default: []].append(Segment(plan: plan.lowercased(), seats: seats, from: from, to: nil))
        }
        for (key, list) in rows {
            var sorted = list.sorted { $0.from < $1.from }
            for k in sorted.indices.dropLast() { sorted[k].to = sorted[k + 1].from }
            result.segments[key] = sorted
        }
        return result
    }

    /// The record priced by the plan its account is on at the time (SaaS usage: the plan is the
    /// "model"); the record unchanged when its account has no plan.
    public func onPlan(_ r: UsageRecord) -> UsageRecord {
        guard let seg = plan(provider: r.provider, account: r.billingAccountId, at: r.periodStart) else { return r }
        var r = r
        r.model = seg.plan
        return r
    }

    /// The plan an account is on at an instant.
    public func plan(provider: String, account: String, at t: Timestamp) -> Segment? {
        segment(provider: provider, account: account, on: t.date)
    }

    /// The plan segment an account is on during a UTC day (`nil`: the account has no plan then).
    public func segment(provider: String, account: String, on day: CivilDate) -> Segment? {
        segments[provider + "|" + account]?.last { $0.from <= day && ($0.to.map { day < $0 } ?? true) }
    }

    /// The days of `period` a plan segment covers, and the days in the month.
    public static func days(of seg: Segment, in period: BillingPeriod) -> (days: Int, daysInMonth: Int) {
        let first = period.firstDay, next = period.next.firstDay
        let start = max(seg.from, first), end = min(seg.to ?? next, next)
        return (max(0, end.daysSinceEpoch - start.daysSinceEpoch), next.daysSinceEpoch - first.daysSinceEpoch)
    }

    /// A plan's monthly included quantity (a rate's `included_per_month`: logged requests, eval
    /// executions) for the part of `period` a segment covers: each plan of a month that changed
    /// plans brings its own allowance, prorated by day like its fee.
    ///
    /// Rounding rule (written down): the share is included × days / days in the month, rounded
    /// down to a whole unit — an allowance is a count of requests or executions, and the estimate
    /// never assumes more free usage than the plan's days give. A full month is the quantity exactly.
    public static func allowance(_ included: ExactDecimal, of seg: Segment, in period: BillingPeriod) -> ExactDecimal {
        let (days, daysInMonth) = days(of: seg, in: period)
        if days == daysInMonth { return included }
        return (included * ExactDecimal(days)).divided(by: ExactDecimal(daysInMonth), scale: 0, .towardZero)!
    }

    /// What `allowance` gives each plan that covers only part of `period` (for the run summary):
    /// "pro plan 15/31 days: 1209 of 2500 logged_requests included", per account and meter.
    public func allowanceNotes(period: BillingPeriod, card: RateCard) -> [String] {
        var out: [String] = []
        for key in segments.keys.sorted() {
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            for seg in segments[key]! {
                let (days, daysInMonth) = Self.days(of: seg, in: period)
                guard days > 0, days < daysInMonth else { continue }
                let at = max(seg.from, period.firstDay).startOfDay
                for meter in Meter.catalog.keys.sorted() where !Meter.catalog[meter]!.isGauge && !Self.seatMeters.contains(meter) {
                    guard let rate = card.rate(provider: parts[0], model: seg.plan, meter: meter, serviceTier: "standard", at: at),
                          let included = rate.includedPerMonth else { continue }
                    out.append("\(period): \(parts[0]) \(parts[1]) \(seg.plan) plan \(days)/\(daysInMonth) days: "
                               + "\(EstimatedRowBuilder.plain(Self.allowance(included, of: seg, in: period))) of \(EstimatedRowBuilder.plain(included)) \(meter) included")
                }
            }
        }
        return out
    }

    /// Meters a plan's seats and fee are billed by (`purchaseRows`), not usage allowances.
    static let seatMeters = ["subscription", "seats", "consumer_seats"]

    /// Purchase rows for the plans' fees and seats in `period`: one row per plan segment that
    /// overlaps the month, prorated by day when the segment covers part of it.
    ///
    /// Rounding rule (written down): a prorated unit price is the monthly price × days / days in the
    /// month, rounded to cents, ties away from zero — as subscription billers prorate; the row is
    /// that price × units (plans, extra seats). A full month is the price exactly.
    public func purchaseRows(period: BillingPeriod, card: RateCard, accounts: AccountNames, version: String) -> [FocusRow] {
        var out: [FocusRow] = []
        let first = period.firstDay, next = period.next.firstDay
        let daysInMonth = next.daysSinceEpoch - first.daysSinceEpoch
        for key in segments.keys.sorted() {
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            let (provider, account) = (parts[0], parts[1])
            for seg in segments[key]! {
                let start = max(seg.from, first)
                let end = min(seg.to ?? next, next)
                guard start < end else { continue }
                let days = end.daysSinceEpoch - start.daysSinceEpoch
                let at = start.startOfDay
                for meter in Self.seatMeters {
                    guard let rate = card.rate(provider: provider, model: seg.plan, meter: meter, serviceTier: "standard", at: at),
                          !rate.unitPrice.isZero else { continue }
                    let units = meter != "subscription" ? ExactDecimal(max(0, seg.seats - Int(rate.includedPerMonth?.normalized.significand ?? 0))) : 1
                    guard !units.isZero else { continue }
                    // The price of one unit for the days covered; the row is that price × units.
                    let unitPrice = days == daysInMonth ? rate.unitPrice
                        : (rate.unitPrice * ExactDecimal(days)).divided(by: ExactDecimal(daysInMonth), scale: 2, .halfAwayFromZero)!
                    out.append(row(provider: provider, account: account, plan: seg.plan, meter: meter, units: units, unitPrice: unitPrice,
                                   rate: rate, start: start, end: end, days: days, daysInMonth: daysInMonth, period: period,
                                   accounts: accounts, version: version))
                }
            }
        }
        return out
    }

    private func row(provider: String, account: String, plan: String, meter: String, units: ExactDecimal, unitPrice: ExactDecimal,
                     rate: Rate, start: CivilDate, end: CivilDate, days: Int, daysInMonth: Int, period: BillingPeriod,
                     accounts: AccountNames, version: String) -> FocusRow {
        let m = Meter.catalog[meter]!
        let prorated = days != daysInMonth
        var r = FocusRow()
        r.setPricedCharge(rate: rate, unitPrice: unitPrice, pricingQuantity: units, provider: provider, account: account,
                          accounts: accounts, period: period, meter: m, rateCardVersion: version)
        r.set(.chargeCategory, "Purchase")
        r.set(.chargeFrequency, "Recurring")
        r.set(.chargeDescription, "\(plan) plan \(m.displayName.lowercased())" + (meter == "seats" ? " (\(units) beyond the plan's users)" : meter == "consumer_seats" ? " (\(units) seats)" : "")
              + (prorated ? ", prorated \(days)/\(daysInMonth) days" : ""))
        r.set(.chargePeriodStart, start.startOfDay)
        r.set(.chargePeriodEnd, end.startOfDay)
        r.set(.skuPriceId, rate.skuPriceId + (prorated ? ":prorated-\(days)-of-\(daysInMonth)" : ""))
        var details: [(key: String, value: JSONValue)] = [("x_Plan", .string(plan))]
        if prorated { details += [("x_ProratedDays", .number(String(days))), ("x_DaysInMonth", .number(String(daysInMonth)))] }
        r[.skuPriceDetails] = .json(details)
        r.set(.xChargeSubType, prorated ? "Prorated plan fee" : "Plan fee")
        r.set(.xModel, plan)
        r.set(.xServiceTier, "standard")
        return r
    }
}
