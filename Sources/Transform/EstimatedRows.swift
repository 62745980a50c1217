import ReckonCore
import ReckonExtract
import ReckonFocus
import ReckonPricing

/// Builds `focus/estimated`: usage × dated rate card, one Usage row per charge day × billing
/// account × sub-account × model × meter × service tier (× tag set).
///
/// Costs are exact: PricingQuantity = ConsumedQuantity / block size (a decimal shift), and
/// ListCost = ContractedCost = BilledCost = EffectiveCost = unit price × PricingQuantity, never rounded.
/// - Memory: O(distinct output rows), not O(input records).
public struct EstimatedRowBuilder {
    struct Key: Hashable, Comparable {
        var chargeStart: Timestamp
        var chargeEnd: Timestamp
        var billingAccount: String
        var subAccount: String
        var provider: String
        var model: String
        var reportedModel: String
        var meter: String
        var tier: String
        var skuPriceId: String
        var tags: String

        var sortFields: [String] {
            [billingAccount, subAccount, provider, model, meter, tier, reportedModel, skuPriceId, tags]
        }

        static func < (a: Key, b: Key) -> Bool {
            if a.chargeStart != b.chargeStart { return a.chargeStart < b.chargeStart }
            if a.chargeEnd != b.chargeEnd { return a.chargeEnd < b.chargeEnd }
            return a.sortFields.lexicographicallyPrecedes(b.sortFields)
        }
    }

    struct Cell {
        var rate: Rate
        var quantity: ExactDecimal
        var tags: [(key: String, value: String)]
    }

    public let rateCard: RateCard
    public let accounts: AccountNames
    public let period: BillingPeriod?
    private var cells: [Key: Cell] = [:]
    /// (record, meter) quantities seen, priced and unpriced — the stage's conservation counts.
    public private(set) var counts = RowCounts()
    /// Records outside the period asked for.
    public private(set) var skippedOtherPeriods = 0

    public init(rateCard: RateCard, accounts: AccountNames, period: BillingPeriod?) {
        self.rateCard = rateCard
        self.accounts = accounts
        self.period = period
    }

    /// Adds one usage record. Each non-zero meter quantity is one counted row: priced into a
    /// cell, or reported through `unpriced` (never priced at $0).
    public mutating func add(_ record: UsageRecord, unpriced: (QuarantineEntry) throws -> Void) rethrows {
        if let period, !period.contains(record.periodStart) {
            skippedOtherPeriods += 1
            return
        }
        let dayStart = record.periodStart.startOfDay
        let dayEnd = dayStart.adding(seconds: 86_400)
        let (chargeStart, chargeEnd) = record.periodEnd <= dayEnd ? (dayStart, dayEnd) : (record.periodStart, record.periodEnd)
        let canonical = rateCard.canonicalModel(provider: record.provider, model: record.model) ?? record.model
        let tagKey = record.tags.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{1F}")
        // A single request's prompt size picks its long-context tier; a bucket relies on the
        // provider's context-window class (Anthropic `200k-1M`).
        let prompt: RateCard.PromptSize = record.isSingleRequest
            ? .tokens(record.promptTokens)
            : .longContext(record.contextWindow.map { $0.lowercased().hasPrefix("200k-") } ?? false)
        for (meter, quantity) in record.quantities where !quantity.isZero {
            counts.rowsRead += 1
            guard let rate = rateCard.rate(provider: record.provider, model: record.model, meter: meter,
                                           serviceTier: record.serviceTier, at: record.periodStart, prompt: prompt) else {
                counts.rowsQuarantined += 1
                try unpriced(QuarantineEntry(
                    stage: "transform", position: record.source,
                    reason: "unpriced_usage: no rate for \(record.provider) \(record.model) \(meter) (\(record.serviceTier)) on \(record.periodStart.date); quantity \(quantity) left unpriced, not priced at $0"))
                continue
            }
            counts.rowsOut += 1
            let key = Key(chargeStart: chargeStart, chargeEnd: chargeEnd, billingAccount: record.billingAccountId,
                          subAccount: record.subAccountId ?? "", provider: record.provider, model: canonical,
                          reportedModel: record.model, meter: meter, tier: record.serviceTier,
                          skuPriceId: rate.skuPriceId, tags: tagKey)
            cells[key, default: Cell(rate: rate, quantity: .zero, tags: record.tags)].quantity += quantity
        }
    }

    /// The rows, grouped by billing period and sorted by key.
    public func rows(rateCardVersion: String) -> [BillingPeriod: [FocusRow]] {
        var out: [BillingPeriod: [FocusRow]] = [:]
        for (key, cell) in cells.sorted(by: { $0.key < $1.key }) {
            let billing = BillingPeriod(containing: key.chargeStart)
            out[billing, default: []].append(row(key, cell, billing, rateCardVersion))
        }
        return out
    }

    private func row(_ key: Key, _ cell: Cell, _ billing: BillingPeriod, _ version: String) -> FocusRow {
        let rate = cell.rate
        let meter = Meter.catalog[key.meter]!
        let profile = ProviderProfile.named(key.provider)
        let pricingQuantity = cell.quantity.shiftedLeft(by: rate.blockSizeExponent)
        let cost = rate.unitPrice * pricingQuantity
        var r = FocusRow()
        r.set(.billedCost, cost)
        r.set(.effectiveCost, cost)
        r.set(.listCost, cost)
        r.set(.contractedCost, cost)
        r.set(.billingAccountId, key.billingAccount)
        r.set(.billingAccountName, accounts.billingAccountName(provider: key.provider, id: key.billingAccount))
        r.set(.billingCurrency, rate.currency)
        r.set(.billingPeriodStart, billing.start)
        r.set(.billingPeriodEnd, billing.end)
        r.set(.chargeCategory, "Usage")
        var variant: [String] = key.tier == "standard" ? [] : [key.tier]
        if let pt = rate.promptTier { variant.append("prompt \(pt) tokens") }
        r.set(.chargeDescription, "\(key.model) \(meter.displayName)" + (variant.isEmpty ? "" : " (\(variant.joined(separator: ", ")))"))
        r.set(.chargeFrequency, "Usage-Based")
        r.set(.chargePeriodStart, key.chargeStart)
        r.set(.chargePeriodEnd, key.chargeEnd)
        r.set(.consumedQuantity, cell.quantity)
        r.set(.consumedUnit, meter.consumedUnit)
        r.set(.pricingQuantity, pricingQuantity)
        r.set(.pricingUnit, rate.pricingUnit)
        r.set(.listUnitPrice, rate.unitPrice)
        r.set(.contractedUnitPrice, rate.unitPrice)
        r.set(.pricingCategory, "Standard")
        r.set(.pricingCurrency, rate.currency)
        r.set(.pricingCurrencyListUnitPrice, rate.unitPrice)
        r.set(.pricingCurrencyContractedUnitPrice, rate.unitPrice)
        r.set(.pricingCurrencyEffectiveCost, cost)
        r.set(.invoiceIssuerName, profile.invoiceIssuerName)
        r.set(.providerName, profile.providerName)
        r.set(.publisherName, profile.providerName)
        r.set(.serviceProviderName, profile.providerName)
        r.set(.hostProviderName, profile.hostProviderName)
        r.set(.serviceCategory, "AI and Machine Learning")
        r.set(.serviceSubcategory, "Generative AI")
        r.set(.serviceName, profile.serviceName)
        r.set(.skuId, rate.skuId)
        r.set(.skuMeter, meter.displayName)
        r.set(.skuPriceId, rate.skuPriceId)
        var details: [(key: String, value: JSONValue)] = [("x_ServiceTier", .string(key.tier))]
        if let pt = rate.promptTier { details.append(("x_PromptTier", .string(pt.description))) }
        r[.skuPriceDetails] = .json(details)
        if !key.subAccount.isEmpty {
            r.set(.subAccountId, key.subAccount)
            r.set(.subAccountName, accounts.subAccountName(provider: key.provider, id: key.subAccount))
        }
        if !cell.tags.isEmpty { r[.tags] = .json(cell.tags.map { ($0.key, .string($0.value)) }) }
        r.set(.xModel, key.reportedModel)
        r.set(.xPriceSource, rate.source)
        r.set(.xRateCardVersion, version)
        r.set(.xServiceTier, key.tier)
        return r
    }
}
