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
    /// A cell of the output: every string is an interned id, so hashing and storing a cell is cheap.
    struct Key: Hashable {
        var chargeStart: Int64
        var chargeEnd: Int64
        var billingAccount: Int32
        var subAccount: Int32
        var provider: Int32
        var model: Int32
        var reportedModel: Int32
        var meter: Int32
        var tier: Int32
        var rate: Int32
        var tags: Int32
    }

    /// Where a record's rate comes from when its prompt cannot reach any long-context tier.
    struct RateCacheKey: Hashable {
        var provider: Int32, reportedModel: Int32, meter: Int32, tier: Int32, day: Int64
    }

    public let rateCard: RateCard
    public let accounts: AccountNames
    public let period: BillingPeriod?
    private var cells: [Key: ExactDecimal] = [:]
    private var ids: [String: Int32] = [:]
    private var names: [String] = []
    private var tagSets: [Int32: [(key: String, value: String)]] = [:]
    private var canonical: [Int64: Int32] = [:]
    private var rateCache: [RateCacheKey: Int32] = [:]   // -1: no rate
    private let smallestPromptTier: ExactDecimal?
    /// (record, meter) quantities seen, priced and unpriced — the stage's conservation counts.
    public private(set) var counts = RowCounts()
    /// Records outside the period asked for.
    public private(set) var skippedOtherPeriods = 0
    /// Usage that found no rate, summed per billing period, account, provider, model, meter and tier.
    public private(set) var unpricedTotals: [UnpricedUsage.Key: UnpricedUsage] = [:]

    public init(rateCard: RateCard, accounts: AccountNames, period: BillingPeriod?) {
        self.rateCard = rateCard
        self.accounts = accounts
        self.period = period
        smallestPromptTier = rateCard.rates.compactMap { $0.promptTier?.threshold }.min()
    }

    private mutating func id(_ s: String) -> Int32 {
        if let i = ids[s] { return i }
        let i = Int32(names.count)
        ids[s] = i
        names.append(s)
        return i
    }

    /// Adds one usage record. Each non-zero meter quantity is one counted row: priced into a
    /// cell, or reported through `unpriced` (never priced at $0).
    /// - Complexity: O(meters) dictionary operations on integer keys; the rate is looked up once
    ///   per provider, model, meter, tier and day unless the prompt may reach a long-context tier.
    public mutating func add(_ record: UsageRecord, unpriced: (QuarantineEntry) throws -> Void) rethrows {
        if let period, !period.contains(record.periodStart) {
            skippedOtherPeriods += 1
            return
        }
        let dayStart = record.periodStart.startOfDay
        let dayEnd = dayStart.adding(seconds: 86_400)
        let (chargeStart, chargeEnd) = record.periodEnd <= dayEnd ? (dayStart, dayEnd) : (record.periodStart, record.periodEnd)
        let providerId = id(record.provider), reportedId = id(record.model), tierId = id(record.serviceTier)
        let modelKey = Int64(providerId) << 32 | Int64(reportedId)
        let modelId: Int32
        if let c = canonical[modelKey] { modelId = c } else {
            modelId = id(rateCard.canonicalModel(provider: record.provider, model: record.model) ?? record.model)
            canonical[modelKey] = modelId
        }
        var tagsId: Int32 = -1
        if !record.tags.isEmpty {
            tagsId = id(record.tags.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{1F}"))
            if tagSets[tagsId] == nil { tagSets[tagsId] = record.tags }
        }
        let accountId = id(record.billingAccountId), subId = id(record.subAccountId ?? "")
        // A single request's prompt size picks its long-context tier; a bucket relies on the
        // provider's context-window class (Anthropic `200k-1M`).
        let prompt: RateCard.PromptSize
        var cacheable: Bool
        if record.isSingleRequest {
            let tokens = record.promptTokens
            prompt = .tokens(tokens)
            cacheable = smallestPromptTier.map { tokens < $0 } ?? true
        } else {
            let long = record.contextWindow.map { $0.lowercased().hasPrefix("200k-") } ?? false
            prompt = .longContext(long)
            cacheable = !long
        }
        for (meter, quantity) in record.quantities where !quantity.isZero {
            counts.rowsRead += 1
            let meterId = id(meter)
            var rateIndex: Int32
            let cacheKey = RateCacheKey(provider: providerId, reportedModel: reportedId, meter: meterId, tier: tierId,
                                        day: dayStart.secondsSinceEpoch)
            if cacheable, let cached = rateCache[cacheKey] {
                rateIndex = cached
            } else {
                rateIndex = rateCard.rateIndex(provider: record.provider, model: record.model, meter: meter,
                                               serviceTier: record.serviceTier, at: record.periodStart, prompt: prompt).map(Int32.init) ?? -1
                if cacheable { rateCache[cacheKey] = rateIndex }
            }
            guard rateIndex >= 0 else {
                counts.rowsQuarantined += 1
                let key = UnpricedUsage.Key(period: BillingPeriod(containing: record.periodStart), billingAccount: record.billingAccountId,
                                            provider: record.provider, model: record.model, meter: meter, serviceTier: record.serviceTier)
                unpricedTotals[key, default: UnpricedUsage(key: key)].add(quantity)
                try unpriced(QuarantineEntry(
                    stage: "transform", position: record.source,
                    reason: "unpriced_usage: no rate for \(record.provider) \(record.model) \(meter) (\(record.serviceTier)) on \(record.periodStart.date); quantity \(quantity) left unpriced, not priced at $0"))
                continue
            }
            counts.rowsOut += 1
            let key = Key(chargeStart: chargeStart.secondsSinceEpoch, chargeEnd: chargeEnd.secondsSinceEpoch, billingAccount: accountId,
                          subAccount: subId, provider: providerId, model: modelId, reportedModel: reportedId, meter: meterId,
                          tier: tierId, rate: rateIndex, tags: tagsId)
            cells[key, default: .zero] += quantity
        }
    }

    /// The number of distinct output rows so far.
    public var rowCount: Int { cells.count }

    /// Calls `body` with every row in a stable order: charge period, then account, sub-account,
    /// provider, model, meter, tier, reported model, price and tags by their text.
    /// - Complexity: O(rows log rows); one row at a time.
    public func forEachRow(rateCardVersion: String, _ body: (BillingPeriod, FocusRow) throws -> Void) rethrows {
        var rank = [Int32](repeating: 0, count: names.count)
        for (r, i) in names.indices.sorted(by: { names[$0] < names[$1] }).enumerated() { rank[i] = Int32(r) }
        func rk(_ i: Int32) -> Int32 { i < 0 ? -1 : rank[Int(i)] }
        let priceIds = rateCard.rates.map(\.skuPriceId)
        // Sort (key, quantity) pairs once by integer ranks: no dictionary lookups, no allocation per comparison.
        let priceRank: [Int32] = {
            var r = [Int32](repeating: 0, count: priceIds.count)
            for (k, i) in priceIds.indices.sorted(by: { priceIds[$0] < priceIds[$1] }).enumerated() { r[i] = Int32(k) }
            return r
        }()
        var entries = Array(cells)
        entries.sort { e1, e2 in
            let a = e1.key, b = e2.key
            if a.chargeStart != b.chargeStart { return a.chargeStart < b.chargeStart }
            if a.chargeEnd != b.chargeEnd { return a.chargeEnd < b.chargeEnd }
            if a.billingAccount != b.billingAccount { return rk(a.billingAccount) < rk(b.billingAccount) }
            if a.subAccount != b.subAccount { return rk(a.subAccount) < rk(b.subAccount) }
            if a.provider != b.provider { return rk(a.provider) < rk(b.provider) }
            if a.model != b.model { return rk(a.model) < rk(b.model) }
            if a.meter != b.meter { return rk(a.meter) < rk(b.meter) }
            if a.tier != b.tier { return rk(a.tier) < rk(b.tier) }
            if a.reportedModel != b.reportedModel { return rk(a.reportedModel) < rk(b.reportedModel) }
            if a.rate != b.rate { return priceRank[Int(a.rate)] < priceRank[Int(b.rate)] }
            return rk(a.tags) < rk(b.tags)
        }
        // Monthly allowances (a rate's included_per_month): consumed in charge-period order per
        // billing account, provider and meter; the included part is a $0 row of its own.
        var remaining: [String: ExactDecimal] = [:]
        for (key, quantity) in entries {
            let billing = BillingPeriod(containing: Timestamp(secondsSinceEpoch: key.chargeStart))
            let rate = rateCard.rates[Int(key.rate)]
            guard let included = rate.includedPerMonth else {
                try body(billing, row(key, quantity, billing, rateCardVersion))
                continue
            }
            let allowanceKey = "\(billing)|\(key.billingAccount)|\(key.provider)|\(key.meter)"
            let left = remaining[allowanceKey] ?? included
            let free = min(left, quantity)
            remaining[allowanceKey] = left - free
            if !free.isZero { try body(billing, row(key, free, billing, rateCardVersion, included: true)) }
            if free < quantity { try body(billing, row(key, quantity - free, billing, rateCardVersion)) }
        }
    }

    /// The rows grouped by billing period (for tests and small runs; the stage streams `forEachRow`).
    public func rows(rateCardVersion: String) -> [BillingPeriod: [FocusRow]] {
        var out: [BillingPeriod: [FocusRow]] = [:]
        forEachRow(rateCardVersion: rateCardVersion) { out[$0, default: []].append($1) }
        return out
    }

    private func row(_ key: Key, _ quantity: ExactDecimal, _ billing: BillingPeriod, _ version: String,
                     included: Bool = false) -> FocusRow {
        var rate = rateCard.rates[Int(key.rate)]
        if included { rate.unitPrice = .zero }
        let meter = Meter.catalog[names[Int(key.meter)]]!
        let provider = names[Int(key.provider)], account = names[Int(key.billingAccount)], sub = names[Int(key.subAccount)]
        let model = names[Int(key.model)], tier = names[Int(key.tier)]
        let profile = ProviderProfile.named(provider)
        let pricingQuantity = quantity.shiftedLeft(by: rate.blockSizeExponent)
        let cost = rate.unitPrice * pricingQuantity
        var r = FocusRow()
        r.set(.billedCost, cost)
        r.set(.effectiveCost, cost)
        r.set(.listCost, cost)
        r.set(.contractedCost, cost)
        r.set(.billingAccountId, account)
        r.set(.billingAccountName, accounts.billingAccountName(provider: provider, id: account))
        r.set(.billingCurrency, rate.currency)
        r.set(.billingPeriodStart, billing.start)
        r.set(.billingPeriodEnd, billing.end)
        r.set(.chargeCategory, "Usage")
        var variant: [String] = tier == "standard" ? [] : [tier]
        if let pt = rate.promptTier { variant.append("prompt \(pt) tokens") }
        if included { variant.append("included in the monthly allowance") }
        r.set(.chargeDescription, "\(model) \(meter.displayName)" + (variant.isEmpty ? "" : " (\(variant.joined(separator: ", ")))"))
        r.set(.chargeFrequency, "Usage-Based")
        r.set(.chargePeriodStart, Timestamp(secondsSinceEpoch: key.chargeStart))
        r.set(.chargePeriodEnd, Timestamp(secondsSinceEpoch: key.chargeEnd))
        r.set(.consumedQuantity, quantity)
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
        r.set(.skuPriceId, rate.skuPriceId + (included ? ":included" : ""))
        if included { r.set(.xChargeSubType, "Included allowance") }
        var details: [(key: String, value: JSONValue)] = [("x_ServiceTier", .string(tier))]
        if let pt = rate.promptTier { details.append(("x_PromptTier", .string(pt.description))) }
        r[.skuPriceDetails] = .json(details)
        if !sub.isEmpty {
            r.set(.subAccountId, sub)
            r.set(.subAccountName, accounts.subAccountName(provider: provider, id: sub))
        }
        if key.tags >= 0, let tags = tagSets[key.tags] { r[.tags] = .json(tags.map { ($0.key, .string($0.value)) }) }
        r.set(.xModel, names[Int(key.reportedModel)])
        r.set(.xPriceSource, rate.source)
        r.set(.xRateCardVersion, version)
        r.set(.xServiceTier, tier)
        return r
    }
}

/// Usage that found no rate: carried to the reconciliation as `unpriced_usage` with its quantity.
public struct UnpricedUsage: Sendable {
    public struct Key: Hashable, Sendable {
        public var period: BillingPeriod
        public var billingAccount: String
        public var provider: String
        public var model: String
        public var meter: String
        public var serviceTier: String
    }

    public var key: Key
    public var quantity: ExactDecimal = .zero
    public var records = 0

    mutating func add(_ q: ExactDecimal) {
        quantity += q
        records += 1
    }

    public var json: JSONValue {
        .object([("billing_account", .string(key.billingAccount)), ("provider", .string(key.provider)),
                 ("model", .string(key.model)), ("meter", .string(key.meter)), ("service_tier", .string(key.serviceTier)),
                 ("quantity", .decimal(quantity)), ("records", .number(String(records)))])
    }
}
