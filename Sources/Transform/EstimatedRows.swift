#if canImport(Glibc)
@preconcurrency import Glibc
#endif
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

        /// One pass of a 64-bit multiply-mix over the fields (`CellTable` uses it as is).
        @inline(__always)
        var mixed: UInt64 {
            var h = UInt64(bitPattern: chargeStart) &* 0x9E37_79B9_7F4A_7C15
            @inline(__always) func mix(_ v: UInt64) { h = (h ^ v) &* 0xFF51_AFD7_ED55_8CCD; h ^= h >> 32 }
            mix(UInt64(bitPattern: chargeEnd))
            mix(UInt64(UInt32(bitPattern: billingAccount)) << 32 | UInt64(UInt32(bitPattern: subAccount)))
            mix(UInt64(UInt32(bitPattern: provider)) << 32 | UInt64(UInt32(bitPattern: model)))
            mix(UInt64(UInt32(bitPattern: reportedModel)) << 32 | UInt64(UInt32(bitPattern: meter)))
            mix(UInt64(UInt32(bitPattern: tier)) << 32 | UInt64(UInt32(bitPattern: rate)))
            mix(UInt64(UInt32(bitPattern: tags)))
            return h
        }

        /// A single combine of `mixed`: the default synthesized hash feeds the hasher 11 times per
        /// lookup, which dominated pricing.
        func hash(into hasher: inout Hasher) { hasher.combine(mixed) }
    }

    /// Where a record's rate comes from when its prompt cannot reach any long-context tier.
    struct RateCacheKey: MixHashable {
        var provider: Int32, reportedModel: Int32, meter: Int32, tier: Int32, day: Int64

        var mixed: UInt64 {
            let a = UInt64(UInt32(bitPattern: provider)) << 32 | UInt64(UInt32(bitPattern: reportedModel))
            let b = UInt64(UInt32(bitPattern: meter)) << 32 | UInt64(UInt32(bitPattern: tier))
            var h = (a &* 0x9E37_79B9_7F4A_7C15) ^ (b &* 0xFF51_AFD7_ED55_8CCD) ^ (UInt64(bitPattern: day) &* 0xC4CE_B9FE_1A85_EC53)
            h ^= h >> 29
            return h &* 0x9E37_79B9_7F4A_7C15
        }
    }

    public let rateCard: RateCard
    public let accounts: AccountNames
    public let period: BillingPeriod?
    /// Providers that bill months of their own time zone (billing_time_zones.csv).
    public let timeZones: BillingTimeZones
    /// Which plan each SaaS account is on (`plans.csv`): a plan's monthly allowance is prorated by
    /// the days of the month the account was on it (`PlanSchedule.allowance`).
    public let plans: PlanSchedule
    private var offsetCache: [Int32: Int64] = [:]
    /// Per rate index: unit price and block-size exponent (the hot path must not copy `Rate`).
    private let unitPrices: [ExactDecimal]
    private let blockExponents: [Int]
    private var cells = CellTable()
    /// Cells written out when the table reached `cellLimit` (see `limitCells`), each spill with
    /// how its ids translate into this builder's (`nil`: they are this builder's own).
    private var spills: [(file: CellSpill, map: [Int32]?)] = []
    private var ownSpill: CellSpill?
    private var cellLimit = Int.max
    private var spillFolder = ""
    private var ids: [String: Int32] = [:]
    private var names: [String] = []
    private var tagSets: [Int32: [(key: String, value: String)]] = [:]
    /// provider << 32 | reported model → canonical model id.
    private var canonical = HashIndex()
    private var rateCache = MixTable<RateCacheKey, Int32>()   // -1: no rate
    private let smallestPromptTier: ExactDecimal?
    private var byHash = HashIndex()
    /// The id of each id's lower-cased form (-1: not looked up yet).
    private var lowered: [Int32] = []
    /// The billing period of the last UTC day and offset seen (records come mostly in time order).
    private var lastBilling: (day: Int64, offset: Int64, period: BillingPeriod)?
    private var scratch: [UInt8] = []
    /// A record's signature (see `writeSignature`), and the ids kept by signature: a month's
    /// records repeat a few thousand combinations of provider, account, sub-account, model and
    /// tier, and a few hundred tag sets; looking each string up again was a fifth of pricing.
    /// Value types: a copy of the builder (a worker's) has tables of its own.
    private var signature: [UInt8] = []
    /// What the dimensions and tag sets of the staged segment being read resolved to, by their
    /// numbers in it (see `UsageRecordView.stagedKeys`); emptied when the segment changes.
    private var stagedSegment = -1
    private var stagedDimensions: [Dimensions?] = []
    private var stagedTagSets: [Int32?] = []
    private var dimensionIds = ExactTextTable<Dimensions>(limit: 1 << 14, byteLimit: 1 << 20)
    private var tagSetIds = ExactTextTable<Int32>(limit: 1 << 14, byteLimit: 1 << 20)
    /// Peak readings of gauge meters (`Meter.isGauge`) per billing period and everything else a
    /// cell is keyed by (charge period = the billing period, no tags); merged by maximum, not sum.
    private var gauges: [Key: ExactDecimal] = [:]
    private var gaugeMeterIds: [Int32] = []
    private var meterSlotIds: [Int32] = []
    private var emptyId: Int32 = 0, batchId: Int32 = 0, standardId: Int32 = 0
    /// (record, meter) quantities seen, priced and unpriced — the stage's conservation counts.
    public private(set) var counts = RowCounts()
    /// Records outside the period asked for.
    public private(set) var skippedOtherPeriods = 0
    /// Cost per span, execution, agent, workspace and tag value (from the records that carry them).
    public private(set) var rollups = Rollups()
    /// Usage that found no rate, summed per billing period, account, provider, model, meter and tier.
    public private(set) var unpricedTotals: [UnpricedUsage.Key: UnpricedUsage] = [:]

    public init(rateCard: RateCard, accounts: AccountNames, period: BillingPeriod?, timeZones: BillingTimeZones = .init(),
                plans: PlanSchedule = .init()) {
        self.rateCard = rateCard
        self.accounts = accounts
        self.period = period
        self.timeZones = timeZones
        self.plans = plans
        unitPrices = rateCard.rates.map(\.unitPrice)
        blockExponents = rateCard.rates.map(\.blockSizeExponent)
        smallestPromptTier = rateCard.rates.compactMap { $0.promptTier?.threshold }.min()
        emptyId = id("")
        batchId = id("batch")
        standardId = id("standard")
        meterSlotIds = UsageRecordView.meterIds.map { id($0) }
        gaugeMeterIds = Meter.catalog.values.filter(\.isGauge).map(\.id).sorted().map { id($0) }
    }

    /// The billing offset of a provider id (0 unless billing_time_zones.csv names it).
    private mutating func offset(_ provider: Int32) -> Int64 {
        if timeZones.isEmpty { return 0 }
        if let o = offsetCache[provider] { return o }
        let o = timeZones.offset(names[Int(provider)])
        offsetCache[provider] = o
        return o
    }

    private mutating func id(_ s: String) -> Int32 {
        if let i = ids[s] { return i }
        let i = Int32(names.count)
        ids[s] = i
        names.append(s)
        return i
    }

    /// Adds one usage record, priced by the plan its account is on when `plans` puts it on one
    /// (SaaS usage: the plan is the "model"). Each non-zero meter quantity is one counted row:
    /// priced into a cell, or reported through `unpriced` (never priced at $0).
    /// - Complexity: O(meters) dictionary operations on integer keys; the rate is looked up once
    ///   per provider, model, meter, tier and day unless the prompt may reach a long-context tier.
    public mutating func add(_ record: UsageRecord, unpriced: (QuarantineEntry) throws -> Void) throws {
        let record = plans.onPlan(record)
        if let period, BillingTimeZones.period(of: record.periodStart, offset: offset(id(record.provider))) != period {
            skippedOtherPeriods += 1
            return
        }
        var tagsId: Int32 = -1
        if !record.tags.isEmpty {
            tagsId = id(record.tags.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{1F}"))
            if tagSets[tagsId] == nil { tagSets[tagsId] = record.tags }
        }
        // A single request's prompt size picks its long-context tier; a bucket relies on the
        // provider's context-window class (Anthropic `200k-1M`).
        let prompt: RateCard.PromptSize = record.isSingleRequest
            ? .tokens(record.promptTokens)
            : .longContext(record.contextWindow.map { $0.lowercased().hasPrefix("200k-") } ?? false)
        var ids = RecordIds(provider: id(record.provider), account: id(record.billingAccountId), sub: id(record.subAccountId ?? ""),
                            reportedModel: id(record.model), tier: id(record.serviceTier), tags: tagsId)
        ids.agent = record.agent.map { id($0) } ?? -1
        ids.execution = record.executionId.map { id($0) } ?? -1
        ids.span = record.spanId.map { id($0) } ?? -1
        ids.parentSpan = record.parentSpanId.map { id($0) } ?? -1
        var priced = beginRecord(ids, start: record.periodStart, end: record.periodEnd, prompt: prompt)
        for q in record.quantities where !q.quantity.isZero {
            if let reason = try addQuantity(id(q.meter), q.quantity, to: &priced) {
                try unpriced(QuarantineEntry(stage: "transform", position: record.source, reason: reason))
            }
        }
        endRecord(priced)
    }

    /// Adds a generic-format record straight from its bytes (the fast path: strings are made only
    /// the first time a value is seen), or through a `UsageRecord` when `plans` puts accounts on
    /// plans. Its dimension ids come from `dimensionIds` and `tagSetIds` by the bytes they are made
    /// from, one lookup each; a combination not seen yet goes through the interning below, in the
    /// same order as always (the ids do not depend on the tables).
    public mutating func add(view v: UsageRecordView, unpriced: (QuarantineEntry) throws -> Void) throws {
        if !plans.isEmpty { return try add(v.makeRecord(), unpriced: unpriced) }
        let start = v.periodStart
        // A record of extract's staged segments: its dimensions and tag set resolve as the same
        // numbers did before in the segment (kept below), without a lookup of their bytes.
        var cachedDimensions: Dimensions?, cachedTagSet: Int32?
        if let keys = v.stagedKeys {
            if keys.segment != stagedSegment {
                stagedSegment = keys.segment
                stagedDimensions.removeAll(keepingCapacity: true)
                stagedTagSets.removeAll(keepingCapacity: true)
            }
            if keys.dimensions < stagedDimensions.count { cachedDimensions = stagedDimensions[keys.dimensions] }
            cachedTagSet = keys.tagSet < 0 ? -1 : (keys.tagSet < stagedTagSets.count ? stagedTagSets[keys.tagSet] : nil)
        }
        let dims: Dimensions, tagsId: Int32
        if let cachedDimensions, let cachedTagSet {
            (dims, tagsId) = (cachedDimensions, cachedTagSet)
            if let period, BillingTimeZones.period(of: start, offset: offset(dims.provider)) != period {
                skippedOtherPeriods += 1
                return
            }
        } else {
            guard let resolved = resolve(v, start: start) else { return }
            (dims, tagsId) = resolved
            if let keys = v.stagedKeys {
                if keys.dimensions >= stagedDimensions.count { stagedDimensions.append(contentsOf: repeatElement(nil, count: keys.dimensions + 1 - stagedDimensions.count)) }
                stagedDimensions[keys.dimensions] = dims
                if keys.tagSet >= 0 {
                    if keys.tagSet >= stagedTagSets.count { stagedTagSets.append(contentsOf: repeatElement(nil, count: keys.tagSet + 1 - stagedTagSets.count)) }
                    stagedTagSets[keys.tagSet] = tagsId
                }
            }
        }
        var ids = RecordIds(provider: dims.provider, account: dims.account, sub: dims.sub, reportedModel: dims.reportedModel, tier: dims.tier,
                            tags: tagsId)
        let promptTokens = v.promptTokens
        if let b = v.bytes(.agent) { ids.agent = bytesId(b) }
        if let b = v.bytes(.executionId) { ids.execution = bytesId(b) }
        if let b = v.bytes(.spanId) { ids.span = bytesId(b) }
        if let b = v.bytes(.parentSpanId) { ids.parentSpan = bytesId(b) }
        // The quantities are read in place and the record's position made only for a quarantine
        // entry: a scratch array of `self`, or a closure capturing the view, had the view's
        // objects or the array retained several times a record.
        var priced = beginRecord(ids, start: start, end: v.periodEnd, prompt: v.isSingleRequest ? .tokens(promptTokens) : .longContext(false))
        for slot in meterSlotIds.indices {
            guard let q = v.quantity(slot), !q.isZero else { continue }
            if let reason = try addQuantity(meterSlotIds[slot], q, to: &priced) {
                try unpriced(QuarantineEntry(stage: "transform", position: SourcePosition(file: v.file, line: v.line), reason: reason))
            }
        }
        endRecord(priced)
    }

    /// A record's dimension ids and tag-set id from its bytes: one lookup each in `dimensionIds`
    /// and `tagSetIds`; a combination not seen yet goes through the interning, in the same order
    /// as always (the ids do not depend on the tables). `nil` when the record is outside `period`.
    private mutating func resolve(_ v: UsageRecordView, start: Timestamp) -> (Dimensions, Int32)? {
        let split = writeSignature(v)
        let known = signature.withUnsafeBytes { dimensionIds.value(UnsafeRawBufferPointer(rebasing: $0[0..<split.dimensions])) }
        let provider: Int32
        if let known { provider = known.provider } else if let b = v.bytes(.provider) { provider = lowerId(bytesId(b)) } else {
            provider = id(v.defaultProvider?.lowercased() ?? "")
        }
        if let period, BillingTimeZones.period(of: start, offset: offset(provider)) != period {
            skippedOtherPeriods += 1
            return nil
        }
        // Interned in the order the strings have always been: account, sub-account, tier, tag set, model.
        var dims = known ?? Dimensions(provider: provider, account: 0, sub: 0, reportedModel: 0, tier: 0)
        if known == nil {
            if let b = v.bytes(.billingAccount) { dims.account = bytesId(b) } else { dims.account = id(v.defaultBillingAccount ?? "") }
            if let b = v.bytes(.subAccount) { dims.sub = bytesId(b) } else { dims.sub = emptyId }
            if let b = v.bytes(.serviceTier) { dims.tier = lowerId(bytesId(b)) } else { dims.tier = v.batch == true ? batchId : standardId }
        }
        var tagsId: Int32 = -1
        if v.tagCount > 0 {
            if let known = signature.withUnsafeBytes({ tagSetIds.value(UnsafeRawBufferPointer(rebasing: $0[split.dimensions..<split.end])) }) {
                tagsId = known
            } else {
                tagsId = internTagSet(v)
                signature.withUnsafeBytes { tagSetIds.keep(UnsafeRawBufferPointer(rebasing: $0[split.dimensions..<split.end]), tagsId) }
            }
        }
        if known == nil {
            dims.reportedModel = bytesId(v.bytes(.model)!)
            signature.withUnsafeBytes { dimensionIds.keep(UnsafeRawBufferPointer(rebasing: $0[0..<split.dimensions]), dims) }
        }
        return (dims, tagsId)
    }

    struct RecordIds {
        var provider, account, sub, reportedModel, tier, tags: Int32
        /// Trace identity for the rollups (-1 when absent).
        var agent: Int32 = -1, execution: Int32 = -1, span: Int32 = -1, parentSpan: Int32 = -1
    }

    /// What a record's quantities share, worked out once a record (`beginRecord`), and what they
    /// add up to (`addQuantity`); `endRecord` hands the record's cost to the rollups.
    struct PricedRecord {
        var ids: RecordIds
        var start: Timestamp
        var prompt: RateCard.PromptSize
        /// Whether the rate found for a (provider, model, meter, tier, day) holds for every record:
        /// not when the prompt may reach a long-context tier.
        var cacheable: Bool
        var dayStart: Timestamp
        var chargeStart: Timestamp, chargeEnd: Timestamp
        var offset: Int64
        var billing: BillingPeriod
        var model: Int32
        var cost = ExactDecimal.zero
        var priced = false
    }

    /// The charge period, billing period and canonical model of a record about to be priced.
    private mutating func beginRecord(_ ids: RecordIds, start: Timestamp, end: Timestamp, prompt: RateCard.PromptSize) -> PricedRecord {
        let dayStart = start.startOfDay
        let dayEnd = dayStart.adding(seconds: 86_400)
        var (chargeStart, chargeEnd) = end <= dayEnd ? (dayStart, dayEnd) : (start, end)
        // A provider that bills months of its own time zone: the UTC day is cut at its month boundary.
        let off = offset(ids.provider)
        let billing: BillingPeriod
        let day = CellSpill.day(start.secondsSinceEpoch + off)
        if let last = lastBilling, last.day == day, last.offset == off { billing = last.period } else {
            billing = BillingTimeZones.period(of: start, offset: off)
            lastBilling = (day, off, billing)
        }
        if off != 0 {
            let bounds = BillingTimeZones.bounds(billing, offset: off)
            chargeStart = max(chargeStart, bounds.start)
            chargeEnd = min(chargeEnd, bounds.end)
        }
        let modelKey = UInt64(UInt32(bitPattern: ids.provider)) << 32 | UInt64(UInt32(bitPattern: ids.reportedModel))
        let modelId: Int32
        if let c = canonical.find(modelKey) { modelId = c } else {
            let reported = names[Int(ids.reportedModel)]
            modelId = id(rateCard.canonicalModel(provider: names[Int(ids.provider)], model: reported) ?? reported)
            canonical.insert(modelKey, modelId)
        }
        let cacheable: Bool
        switch prompt {
        case .tokens(let n): cacheable = smallestPromptTier.map { n < $0 } ?? true
        case .longContext(let long): cacheable = !long
        }
        return PricedRecord(ids: ids, start: start, prompt: prompt, cacheable: cacheable, dayStart: dayStart, chargeStart: chargeStart,
                            chargeEnd: chargeEnd, offset: off, billing: billing, model: modelId)
    }

    /// Prices one non-zero meter quantity of the record into a cell, and counts it.
    /// - Returns: the quarantine reason when no rate covers it (it is then summed as unpriced
    ///   usage, never priced at $0); the caller writes the entry with the record's position.
    private mutating func addQuantity(_ meterId: Int32, _ quantity: ExactDecimal, to r: inout PricedRecord) throws -> String? {
        let ids = r.ids
        counts.rowsRead += 1
        var rateIndex: Int32
        let cacheKey = RateCacheKey(provider: ids.provider, reportedModel: ids.reportedModel, meter: meterId, tier: ids.tier,
                                    day: r.dayStart.secondsSinceEpoch)
        if r.cacheable, let cached = rateCache[cacheKey] {
            rateIndex = cached
        } else {
            rateIndex = rateCard.rateIndex(provider: names[Int(ids.provider)], model: names[Int(ids.reportedModel)],
                                           meter: names[Int(meterId)], serviceTier: names[Int(ids.tier)], at: r.start,
                                           prompt: r.prompt).map(Int32.init) ?? -1
            if r.cacheable { rateCache[cacheKey] = rateIndex }
        }
        guard rateIndex >= 0 else {
            counts.rowsQuarantined += 1
            let (provider, model, meter, tier) = (names[Int(ids.provider)], names[Int(ids.reportedModel)], names[Int(meterId)], names[Int(ids.tier)])
            let key = UnpricedUsage.Key(period: r.billing, billingAccount: names[Int(ids.account)],
                                        provider: provider, model: model, meter: meter, serviceTier: tier)
            unpricedTotals[key, default: UnpricedUsage(key: key)].add(quantity)
            return "unpriced_usage: no rate for \(provider) \(model) \(meter) (\(tier)) on \(r.start.date); quantity \(quantity) left unpriced, not priced at $0"
        }
        counts.rowsOut += 1
        if gaugeMeterIds.contains(meterId) {
            // A level (storage held): the billing period's peak reading, one row for the month.
            let bounds = BillingTimeZones.bounds(r.billing, offset: r.offset)
            let key = Key(chargeStart: bounds.start.secondsSinceEpoch, chargeEnd: bounds.end.secondsSinceEpoch, billingAccount: ids.account,
                          subAccount: ids.sub, provider: ids.provider, model: r.model, reportedModel: ids.reportedModel, meter: meterId,
                          tier: ids.tier, rate: rateIndex, tags: -1)
            gauges[key] = max(gauges[key] ?? quantity, quantity)
            return nil
        }
        let key = Key(chargeStart: r.chargeStart.secondsSinceEpoch, chargeEnd: r.chargeEnd.secondsSinceEpoch, billingAccount: ids.account,
                      subAccount: ids.sub, provider: ids.provider, model: r.model, reportedModel: ids.reportedModel, meter: meterId,
                      tier: ids.tier, rate: rateIndex, tags: ids.tags)
        cells.add(key, quantity)
        if cells.count >= cellLimit { try spill() }
        r.cost += unitPrices[Int(rateIndex)] * quantity.shiftedLeft(by: blockExponents[Int(rateIndex)])
        r.priced = true
        return nil
    }

    /// Adds a record that had a priced quantity to the rollups (its cost per span, agent, tag…).
    private mutating func endRecord(_ r: PricedRecord) {
        guard r.priced else { return }
        var requestDay: Int32?
        if case .tokens = r.prompt {
            let t = r.start.secondsSinceEpoch
            requestDay = Int32(truncatingIfNeeded: t >= 0 ? t / 86_400 : (t - 86_399) / 86_400)
        }
        rollups.add(ids: r.ids, period: r.billing, cost: r.cost, requestDay: requestDay)
    }

    /// Interns a record's tag set: "key=value" pairs joined by U+001F, keys in order — the same
    /// text `add(_:)` interns. Usually in key order already (the CSV reader adds them so): sorted only when not.
    private mutating func internTagSet(_ v: UsageRecordView) -> Int32 {
        var inOrder = true
        for k in 1..<max(v.tagCount, 1) where !v.tag(k - 1).encodedKey.lexicographicallyPrecedes(v.tag(k).encodedKey) {
            inOrder = false
            break
        }
        var order = Array(0..<v.tagCount)
        if !inOrder { order.sort { v.tag($0).encodedKey.lexicographicallyPrecedes(v.tag($1).encodedKey) } }
        scratch.removeAll(keepingCapacity: true)
        for (n, k) in order.enumerated() {
            let t = v.tag(k)
            if n > 0 { scratch.append(0x1F) }
            scratch.append(contentsOf: t.encodedKey.dropFirst().dropLast())
            scratch.append(0x3D)
            scratch.append(contentsOf: t.value)
        }
        let tagsId = scratch.withUnsafeBytes { bytesId($0) }
        if tagSets[tagsId] == nil {
            tagSets[tagsId] = order.map { k in
                let t = v.tag(k)
                return (String(decoding: t.encodedKey.dropFirst().dropLast(), as: UTF8.self), String(decoding: t.value, as: UTF8.self))
            }
        }
        return tagsId
    }

    /// A record's dimension ids, as `dimensionIds` keeps them.
    struct Dimensions {
        var provider, account, sub, reportedModel, tier: Int32
    }

    /// Writes into `signature` the bytes a record's dimension ids are made from, then those of its
    /// tag set: each piece as a 4-byte length and its bytes, or a marker for a field that is
    /// absent (followed by what stands in for it: the file's provider or billing account, the
    /// batch flag) — so equal signatures mean equal pieces. Returns where each part ends.
    /// - Complexity: O(bytes of the pieces); no allocation once `signature` is large enough.
    private mutating func writeSignature(_ v: UsageRecordView) -> (dimensions: Int, end: Int) {
        let (provider, account, sub, model, tier) = (v.bytes(.provider), v.bytes(.billingAccount), v.bytes(.subAccount),
                                                     v.bytes(.model), v.bytes(.serviceTier))
        // The file's provider and billing account stand in for absent fields (read only then).
        var stand = (provider == nil ? v.defaultProvider ?? "" : "", account == nil ? v.defaultBillingAccount ?? "" : "")
        // The room needed, then the pieces written in place.
        var size = 4 * 7 + stand.0.utf8.count + stand.1.utf8.count + 1
        size += (provider?.count ?? 0) + (account?.count ?? 0) + (sub?.count ?? 0) + (model?.count ?? 0) + (tier?.count ?? 0)
        v.forEachTag { key, value in size += 8 + key.count + value.count }
        if signature.count < size { signature = [UInt8](repeating: 0, count: Swift.max(size, 2 * signature.count)) }
        return signature.withUnsafeMutableBytes { out -> (Int, Int) in
            var n = 0
            @inline(__always) func put(_ b: UnsafeRawBufferPointer?) {
                out.storeBytes(of: UInt32(truncatingIfNeeded: b?.count ?? 0xFFFF_FFFF).littleEndian, toByteOffset: n, as: UInt32.self)
                n += 4
                if let b, !b.isEmpty { (out.baseAddress! + n).copyMemory(from: b.baseAddress!, byteCount: b.count); n += b.count }
            }
            put(provider); if provider == nil { stand.0.withUTF8 { put(UnsafeRawBufferPointer($0)) } }
            put(account); if account == nil { stand.1.withUTF8 { put(UnsafeRawBufferPointer($0)) } }
            put(sub); put(model); put(tier)
            if tier == nil { out[n] = v.batch == true ? 1 : 0; n += 1 }
            let dimensions = n
            v.forEachTag { key, value in put(key); put(value) }
            return (dimensions, n)
        }
    }

    /// The id of a byte string (interned by hash; a hash collision falls back to the string table).
    private mutating func bytesId(_ b: UnsafeRawBufferPointer) -> Int32 {
        let h = fnv1a64(b)
        if let i = byHash.find(h), Self.equal(names[Int(i)], b) { return i }
        let i = id(String(decoding: b, as: UTF8.self))
        if byHash.find(h) == nil { byHash.insert(h, i) }
        return i
    }

    /// Whether a string's UTF-8 is exactly `b` (native strings are contiguous: one memcmp).
    @inline(__always)
    static func equal(_ s: String, _ b: UnsafeRawBufferPointer) -> Bool {
        var s = s
        return s.withUTF8 { u in u.count == b.count && (b.isEmpty || memcmp(u.baseAddress!, b.baseAddress!, b.count) == 0) }
    }

    /// The id of the lower-cased form of the string with id `i`.
    private mutating func lowerId(_ i: Int32) -> Int32 {
        if Int(i) < lowered.count, lowered[Int(i)] >= 0 { return lowered[Int(i)] }
        let l = id(names[Int(i)].lowercased())
        if lowered.count < names.count { lowered.append(contentsOf: repeatElement(-1, count: names.count - lowered.count)) }
        lowered[Int(i)] = l
        return l
    }

    /// The tags of an interned tag set.
    public func tags(_ i: Int32) -> [(key: String, value: String)] { tagSets[i] ?? [] }

    /// The string an interned id stands for.
    public func name(_ i: Int32) -> String { i < 0 ? "" : names[Int(i)] }

    /// Adds what another builder (with the same rate card, accounts, period and time zones) has
    /// seen: its ids are translated into this builder's by their text, then cells, unpriced usage,
    /// rollups and counts are summed. The result does not depend on which builder saw which
    /// record, except that `other`'s records count as later ones (a span's parent, if it changes).
    /// - Complexity: O(other's names + cells + rollup entries).
    public mutating func merge(_ other: EstimatedRowBuilder) throws {
        var map = [Int32](repeating: -1, count: other.names.count)
        for (i, n) in other.names.enumerated() { map[i] = id(n) }
        func t(_ i: Int32) -> Int32 { i < 0 ? i : map[Int(i)] }
        for (i, set) in other.tagSets where tagSets[t(i)] == nil { tagSets[t(i)] = set }
        for (k, q) in other.cells {
            cells.add(Self.translate(k, map), q)
            if cells.count >= cellLimit { try spill() }
        }
        for (k, q) in other.gauges {
            let n = Self.translate(k, map)
            gauges[n] = max(gauges[n] ?? q, q)
        }
        // Its spilled cells stay where they are; their ids translate through `map` (after their own map).
        for (file, own) in other.spills { spills.append((file, own.map { $0.map(t) } ?? map)) }
        counts.rowsRead += other.counts.rowsRead
        counts.rowsOut += other.counts.rowsOut
        counts.rowsQuarantined += other.counts.rowsQuarantined
        skippedOtherPeriods += other.skippedOtherPeriods
        for (k, u) in other.unpricedTotals { unpricedTotals[k, default: UnpricedUsage(key: k)].merge(u) }
        rollups.merge(other.rollups, translate: t)
    }

    /// Whether nothing has been added yet (a worker's builder can then simply replace this one).
    public var isEmpty: Bool { cells.isEmpty && spills.isEmpty && gauges.isEmpty && counts.rowsRead == 0 && skippedOtherPeriods == 0 && unpricedTotals.isEmpty && rollups.isEmpty }

    /// A builder with the same settings and nothing seen yet (for a worker thread).
    public func emptyCopy() -> EstimatedRowBuilder {
        var b = EstimatedRowBuilder(rateCard: rateCard, accounts: accounts, period: period, timeZones: timeZones, plans: plans)
        b.cellLimit = cellLimit
        b.spillFolder = spillFolder
        return b
    }

    /// Bounds the cell table to `limit` cells (about 110 bytes each): when it is full, its cells
    /// are written to an unnamed temporary file in `spillFolder` (see `CellSpill`) and the table
    /// starts empty again. The rows are the same bytes whether or not cells were spilled; the
    /// final pass then holds one UTC day of cells at a time.
    public mutating func limitCells(to limit: Int, spillFolder: String) {
        cellLimit = max(1, limit)
        self.spillFolder = spillFolder
    }

    /// Writes the cell table to this builder's spill file and empties it (keeping its room).
    private mutating func spill() throws {
        if ownSpill == nil {
            let file = try CellSpill(folder: spillFolder)
            ownSpill = file
            spills.append((file, nil))
        }
        try ownSpill!.append(cells)
        cells.removeAll(keepingCapacity: true)
    }

    /// Spills the table if it has reached its limit (for callers that add cells another way, such
    /// as absorbing shard results).
    public mutating func spillIfFull() throws {
        if cells.count >= cellLimit { try spill() }
    }

    /// Once every record is in: if cells were spilled, spills the rest too and frees the table, so
    /// that the final pass holds only one day of cells. Nothing changes when nothing was spilled.
    public mutating func spillRemaining() throws {
        guard !spills.isEmpty else { return }
        if !cells.isEmpty { try spill() }
        cells = CellTable()
    }

    /// Gauge peaks above their plan's cap (`dataset_storage` over the plan's MB), as sentences
    /// for the run summary, sorted.
    public func gaugesAboveCap() -> [String] {
        gauges.compactMap { k, peak -> String? in
            let rate = rateCard.rates[Int(k.rate)]
            guard let cap = rate.includedPerMonth, peak > cap, let meter = Meter.catalog[rate.meter] else { return nil }
            let offset = timeZones.isEmpty ? 0 : timeZones.offset(names[Int(k.provider)])
            let period = BillingTimeZones.period(of: Timestamp(secondsSinceEpoch: k.chargeStart), offset: offset)
            return "\(period): \(names[Int(k.provider)]) \(names[Int(k.billingAccount)]) \(rate.meter) peaked at \(Self.plain(peak)) \(meter.consumedUnit), above the \(names[Int(k.model)]) plan's cap of \(Self.plain(cap)) \(meter.consumedUnit)"
        }.sorted()
    }

    /// A quantity for a sentence: `150`, `195.5` (not FOCUS's `150.0`).
    static func plain(_ d: ExactDecimal) -> String {
        let n = d.normalized
        return n.scale == 0 ? String(n.significand) : n.description
    }

    /// Cells written to temporary files so far (0 when everything fitted in memory).
    public var spilledCells: Int { spills.reduce(0) { $0 + $1.file.records } }

    /// A key with its interned ids translated through `map` (negative ids stand for "none").
    @inline(__always)
    static func translate(_ k: Key, _ map: [Int32]?) -> Key {
        guard let map else { return k }
        func t(_ i: Int32) -> Int32 { i < 0 ? i : map[Int(i)] }
        var n = k
        n.billingAccount = t(k.billingAccount); n.subAccount = t(k.subAccount); n.provider = t(k.provider)
        n.model = t(k.model); n.reportedModel = t(k.reportedModel); n.meter = t(k.meter); n.tier = t(k.tier); n.tags = t(k.tags)
        return n
    }

    /// Makes room for `n` output cells at once (the cell table otherwise rehashes every time it
    /// doubles, which cost about a sixth of pricing at 1 M records). Room is filled at random
    /// places, so it becomes resident memory: reserve what is surely needed, not an upper bound.
    public mutating func reserveCells(_ n: Int) { cells.reserveCapacity(min(n, cellLimit)) }

    /// The number of cells held in memory (distinct output rows so far when nothing was spilled).
    public var rowCount: Int { cells.count }

    /// Calls `body` with every row in a stable order: charge period, then account, sub-account,
    /// provider, model, meter, tier, reported model, price and tags by their text.
    /// - Complexity: O(rows log rows); one row at a time.
    public func forEachRow(rateCardVersion: String, _ body: (BillingPeriod, FocusRow) throws -> Void) throws {
        try forEachCell { key, quantity, billing, included in
            try body(billing, row(key, quantity, billing, rateCardVersion, included: included))
        }
    }

    /// What the written rows add up to per billing period, provider, billing account and currency
    /// (the estimated invoice's charges before credits, rounding and tax).
    public struct ChargeTotal: Sendable {
        public var period: BillingPeriod
        public var provider: String
        public var account: String
        public var accountName: String
        public var currency: String
        public var billed: ExactDecimal
    }

    /// The same rows as `forEachRow`, already encoded as FOCUS CSV lines — byte for byte what
    /// `FocusRow.appendCSVLine` writes for them (a test holds the two to that). Each column is
    /// encoded once per distinct value of what it depends on — the rate (with the allowance flag,
    /// tier, model and meter), the billing account, the sub-account, the tag set, the reported model,
    /// the billing period — by building one full row with `row` on a cache miss and keeping that
    /// group's columns in one byte arena. A line is the template of its parts (`LineTemplate`)
    /// with the row's costs, quantities, charge period and tag set between its segments.
    /// Lines come in runs of one billing period (whole lines, up to ~256 KiB, with their count),
    /// assembled in place: one call and one copy per run, not per line. The run's bytes are
    /// reused: copy them inside `body`.
    /// - Returns: the billed cost of the rows per period, provider, account and currency, in no
    ///   particular order.
    /// - Memory: the encoded columns per distinct rate, account, sub-account, tag set and model.
    @discardableResult
    public func forEachCSVLine(rateCardVersion: String, _ body: (BillingPeriod, UnsafeRawBufferPointer, Int) throws -> Void) throws -> [ChargeTotal] {
        struct RateKey: Hashable {
            var rate: Int32, included: Bool, tier: Int32, model: Int32, meter: Int32
            func hash(into h: inout Hasher) {
                h.combine(UInt64(UInt32(bitPattern: rate)) << 33 | UInt64(UInt32(bitPattern: tier)) << 1 | (included ? 1 : 0))
                h.combine(UInt64(UInt32(bitPattern: model)) << 32 | UInt64(UInt32(bitPattern: meter)))
            }
        }
        struct PeriodKey: Hashable { var period: BillingPeriod, provider: Int32 }
        struct ChargeKey: Hashable { var period: BillingPeriod, provider: Int32, account: Int32, rate: Int32 }
        let group: [CSVGroup] = FocusColumn.allCases.map { c in
            switch c {
            case .billingAccountId, .billingAccountName, .hostProviderName, .invoiceIssuerName, .providerName, .publisherName,
                 .serviceName, .serviceProviderName: return .account
            case .billingPeriodStart, .billingPeriodEnd: return .period
            case .billingCurrency, .chargeDescription, .consumedUnit, .contractedUnitPrice, .listUnitPrice, .pricingCurrency,
                 .pricingCurrencyContractedUnitPrice, .pricingCurrencyListUnitPrice, .pricingUnit, .skuId, .skuMeter,
                 .skuPriceDetails, .skuPriceId, .xChargeSubType, .xPriceSource, .xServiceTier: return .rate
            case .subAccountId, .subAccountName: return .sub
            case .tags: return .tags
            case .xModel: return .model
            case .billedCost, .contractedCost, .effectiveCost, .listCost, .pricingCurrencyEffectiveCost: return .cost
            case .chargePeriodStart: return .chargeStart
            case .chargePeriodEnd: return .chargeEnd
            case .consumedQuantity: return .consumed
            case .pricingQuantity: return .pricingQuantity
            default: return .constant
            }
        }
        let columns = group.count
        var template = LineTemplate(group: group)
        /// Adds the columns of group `g` of row `r` to the arena; returns the part's index.
        func encode(_ r: FocusRow, _ g: CSVGroup) -> Int32 {
            var one: [UInt8] = []
            return template.arena.addPart { bytes, k in
                guard group[k] == g else { return }
                var single = FocusRow()
                single[FocusColumn.allCases[k]] = r[FocusColumn.allCases[k]]
                one.removeAll(keepingCapacity: true)
                single.appendCSVLine(to: &one)
                // A one-column line is that column's bytes among 48 commas and a newline.
                bytes += one[k..<(one.count - (columns - 1 - k) - 1)]
            }
        }
        var constant: Int32 = -1
        var accountParts: [Int64: Int32] = [:], subParts: [Int64: Int32] = [:], modelParts: [Int32: Int32] = [:]
        // Per tag set id + 1 (0: no tags): its part, -1 until encoded (an array: looked up on every row).
        var tagParts = [Int32](repeating: -1, count: names.count + 1)
        var periodParts: [PeriodKey: Int32] = [:]
        var rateParts: [RateKey: (part: Int32, unitPrice: ExactDecimal, exponent: Int)] = [:]
        var accountNames: [Int64: String] = [:]
        var charges: [ChargeKey: ExactDecimal] = [:]
        var run: (key: ChargeKey?, sum: ExactDecimal) = (nil, .zero)
        var times: (start: Int64, end: Int64) = (.min, .min)
        var last: (accountKey: Int64, account: Int32, subKey: Int64, sub: Int32, rateKey: RateKey,
                   rate: (part: Int32, unitPrice: ExactDecimal, exponent: Int), modelKey: Int32, model: Int32, periodKey: PeriodKey?, period: Int32)
            = (-1, 0, -1, 0, RateKey(rate: -1, included: false, tier: -1, model: -1, meter: -1), (0, .zero, 0), -2, 0, nil, 0)
        var lines = ByteBuffer(capacity: 1 << 18 + 1 << 12)
        var lineCount = 0, linesPeriod: BillingPeriod?
        func endLines() throws {
            guard lineCount > 0 else { return }
            try lines.withBytes { try body(linesPeriod!, $0, lineCount) }
            lines.removeAll()
            lineCount = 0
        }
        try forEachCell { key, quantity, billing, included in
            if billing != linesPeriod {
                try endLines()
                linesPeriod = billing
            }
            var full: FocusRow?
            func built() -> FocusRow {
                if let full { return full }
                let r = row(key, quantity, billing, rateCardVersion, included: included)
                full = r
                return r
            }
            if constant < 0 { constant = encode(built(), .constant) }
            // Rows come sorted by account, sub-account, provider, model, meter, tier: most parts are
            // the previous row's (checked first, before any dictionary).
            let accountKey = Int64(key.provider) << 32 | Int64(key.billingAccount)
            let account = accountKey == last.accountKey ? last.account : accountParts[accountKey] ?? {
                let r = built()
                accountNames[accountKey] = r[.billingAccountName].string ?? ""
                let p = encode(r, .account)
                accountParts[accountKey] = p
                return p
            }()
            let subKey = Int64(key.provider) << 32 | Int64(key.subAccount)
            let sub = subKey == last.subKey ? last.sub : subParts[subKey] ?? { let p = encode(built(), .sub); subParts[subKey] = p; return p }()
            let rateKey = RateKey(rate: key.rate, included: included, tier: key.tier, model: key.model, meter: key.meter)
            let rate = rateKey == last.rateKey ? last.rate : rateParts[rateKey] ?? {
                let card = rateCard.rates[Int(key.rate)]
                let v = (encode(built(), .rate), included ? ExactDecimal.zero : card.unitPrice, card.blockSizeExponent)
                rateParts[rateKey] = v
                return v
            }()
            var tags = tagParts[Int(key.tags) + 1]
            if tags < 0 { tags = encode(built(), .tags); tagParts[Int(key.tags) + 1] = tags }
            let model = key.reportedModel == last.modelKey ? last.model
                : modelParts[key.reportedModel] ?? { let p = encode(built(), .model); modelParts[key.reportedModel] = p; return p }()
            let periodKey = PeriodKey(period: billing, provider: key.provider)
            let period = periodKey == last.periodKey ? last.period
                : periodParts[periodKey] ?? { let p = encode(built(), .period); periodParts[periodKey] = p; return p }()
            last = (accountKey, account, subKey, sub, rateKey, rate, key.reportedModel, model, periodKey, period)
            // The charge period is the same for a day's rows: encoded when it changes.
            if key.chargeStart != times.start || key.chargeEnd != times.end {
                times = (key.chargeStart, key.chargeEnd)
                template.setChargePeriod(key.chargeStart, key.chargeEnd)
            }

            let pricingQuantity = quantity.shiftedLeft(by: rate.exponent)
            let billed = rate.unitPrice * pricingQuantity
            template.update(constant: constant, account: account, period: period, rate: rate.part, sub: sub, model: model)
            template.assemble(into: &lines, tags: tags, cost: billed, quantity: quantity, pricingQuantity: pricingQuantity)
            lineCount += 1
            if lines.count >= 1 << 18 { try endLines() }
            // Summed while the key stays the same, then added to the table.
            let chargeKey = ChargeKey(period: billing, provider: key.provider, account: key.billingAccount, rate: key.rate)
            if chargeKey != run.key {
                if let k = run.key { charges[k, default: .zero] += run.sum }
                run = (chargeKey, .zero)
            }
            run.sum += billed
        }
        try endLines()
        if let k = run.key { charges[k, default: .zero] += run.sum }
        // Per rate while writing (integer keys), per currency here.
        struct CurrencyKey: Hashable { var period: BillingPeriod, provider: Int32, account: Int32, currency: String }
        var byCurrency: [CurrencyKey: ExactDecimal] = [:]
        for (k, billed) in charges {
            byCurrency[CurrencyKey(period: k.period, provider: k.provider, account: k.account, currency: rateCard.rates[Int(k.rate)].currency),
                       default: .zero] += billed
        }
        return byCurrency.map { k, billed in
            ChargeTotal(period: k.period, provider: names[Int(k.provider)], account: names[Int(k.account)],
                        accountName: accountNames[Int64(k.provider) << 32 | Int64(k.account)] ?? "", currency: k.currency, billed: billed)
        }
    }

    /// A charge period (start, end) in seconds.
    struct PeriodBounds: Hashable { var start: Int64, end: Int64 }

    /// A sort key packed into 128 bits (see `forEachCell`'s `order`), with the entry it sorts.
    struct PackedKey {
        var hi: UInt64, lo: UInt64
        var index: Int32

        /// Appends `value` (less than 2^bits) below the bits pushed so far.
        @inline(__always)
        mutating func push(_ value: UInt64, _ bits: Int) {
            guard bits > 0 else { return }
            hi = bits >= 64 ? lo : (hi << UInt64(bits)) | (lo >> UInt64(64 - bits))
            lo = bits >= 64 ? value : (lo << UInt64(bits)) | value
        }

        /// The 11 bits of the key from bit `shift` up (bit 0 is `lo`'s lowest).
        @inline(__always)
        func digit(_ shift: Int) -> Int {
            let v: UInt64
            if shift >= 64 { v = hi >> UInt64(shift - 64) } else if shift > 53 { v = lo >> UInt64(shift) | hi << UInt64(64 - shift) } else { v = lo >> UInt64(shift) }
            return Int(truncatingIfNeeded: v & 0x7FF)
        }

        /// Sorts keys by (hi, lo), whose values use only the `bits` lowest bits: a least-significant-
        /// digit radix sort, 11 bits a pass, passes where every key has the same digit skipped;
        /// a comparison sort for a few keys. Keys are distinct (each encodes a whole cell key), so
        /// the order is the one comparison gives.
        /// - Complexity: O(n × bits / 11) time, n keys and 2,048 counters of extra memory.
        static func sort(_ keys: inout [PackedKey], bits: Int) {
            let n = keys.count
            guard n >= 512 else {
                keys.sort { ($0.hi, $0.lo) < ($1.hi, $1.lo) }
                return
            }
            var other = keys
            var counts = [Int](repeating: 0, count: 2048)
            var inKeys = true   // which array holds the keys sorted so far
            var shift = 0
            while shift < bits {
                counts.withUnsafeMutableBufferPointer { counts in
                    for d in counts.indices { counts[d] = 0 }
                    let from = inKeys ? keys : other
                    from.withUnsafeBufferPointer { from in
                        for k in from { counts[k.digit(shift)] += 1 }
                    }
                    guard counts[from[0].digit(shift)] != n else { return }   // one digit for all: nothing moves
                    var at = 0
                    for d in counts.indices { (counts[d], at) = (at, at + counts[d]) }
                    func scatter(_ src: UnsafeBufferPointer<PackedKey>, _ dst: UnsafeMutableBufferPointer<PackedKey>) {
                        for k in src {
                            let d = k.digit(shift)
                            dst[counts[d]] = k
                            counts[d] += 1
                        }
                    }
                    if inKeys { keys.withUnsafeBufferPointer { src in other.withUnsafeMutableBufferPointer { scatter(src, $0) } } }
                    else { other.withUnsafeBufferPointer { src in keys.withUnsafeMutableBufferPointer { scatter(src, $0) } } }
                    inKeys.toggle()
                }
                shift += 11
            }
            if !inKeys { keys = other }
        }
    }

    /// A cell's place in the output order as packed integers (ranks of names by their text; ids
    /// are below 2^32, so two ranks fit one word), compared word by word.
    struct SortKey: Comparable {
        var a, b, c, d, e, f, g: UInt64
        static func < (x: SortKey, y: SortKey) -> Bool {
            if x.a != y.a { return x.a < y.a }
            if x.b != y.b { return x.b < y.b }
            if x.c != y.c { return x.c < y.c }
            if x.d != y.d { return x.d < y.d }
            if x.e != y.e { return x.e < y.e }
            if x.f != y.f { return x.f < y.f }
            return x.g < y.g
        }
    }

    /// Which cached part of a CSV line a column comes from (see `forEachCSVLine`); the first
    /// `cached` cases are cached per distinct value, the others written for every row.
    enum CSVGroup: Int {
        case constant, account, period, rate, sub, tags, model, cost, chargeStart, chargeEnd, consumed, pricingQuantity
        static let cached = 7
    }

    /// The cached column bytes of every part, in one buffer: part `p`'s column `k` is
    /// `bytes[starts[p * (columns + 1) + k] ..< starts[p * (columns + 1) + k + 1]]` (empty for
    /// columns of other groups). One buffer means no reference counting per row.
    struct Arena {
        let columns: Int
        var bytes: [UInt8] = []
        var starts: [Int32] = []

        init(columns: Int) { self.columns = columns }

        /// Appends a part whose column `k` is what `fill(&bytes, k)` appends.
        mutating func addPart(_ fill: (inout [UInt8], Int) -> Void) -> Int32 {
            let part = Int32(starts.count / (columns + 1))
            for k in 0..<columns {
                starts.append(Int32(bytes.count))
                fill(&bytes, k)
            }
            starts.append(Int32(bytes.count))
            return part
        }
    }

    /// A line's cached columns for one combination of parts (all groups but the tags), laid out
    /// with their commas and with holes where the row's own values go: the costs, the charge
    /// period, the quantities and the tag set (which changes from row to row most often, the rows
    /// being sorted by it last). Rebuilt only when a part changes, so that a line is about twenty
    /// copies instead of one per column.
    struct LineTemplate {
        /// The cached parts' columns.
        var arena: Arena
        /// Which group each column belongs to.
        let group: [CSVGroup]
        /// The columns filled per row, and what fills each.
        let holes: [(column: Int, group: CSVGroup)]
        /// The row's cost as text (the five cost columns hold the same number: formatted once).
        var cost: [UInt8] = []
        var bytes: [UInt8] = []
        /// Segment `i` (before hole `i`; the last one ends the line) is `bytes[ends[i - 1] ..< ends[i]]`
        /// (`bytes` may be longer than the last end).
        var ends: [Int] = []
        /// The parts it was built from (`-1`: not built yet); the tags' entry is not used.
        var parts: [Int32]
        /// The charge period's columns, the same for a day's rows (see `setChargePeriod`).
        var chargeStart: [UInt8] = [], chargeEnd: [UInt8] = []

        mutating func setChargePeriod(_ start: Int64, _ end: Int64) {
            chargeStart.removeAll(keepingCapacity: true)
            chargeStart.appendTimestamp(Timestamp(secondsSinceEpoch: start))
            chargeEnd.removeAll(keepingCapacity: true)
            chargeEnd.appendTimestamp(Timestamp(secondsSinceEpoch: end))
        }

        init(group: [CSVGroup]) {
            self.group = group
            arena = Arena(columns: group.count)
            holes = group.indices.compactMap { k in Self.isHole(group[k]) ? (k, group[k]) : nil }
            parts = [Int32](repeating: -1, count: CSVGroup.cached)
        }

        /// Builds the template for these parts unless it is the one held.
        mutating func update(constant: Int32, account: Int32, period: Int32, rate: Int32, sub: Int32, model: Int32) {
            typealias G = CSVGroup
            if parts[G.constant.rawValue] == constant && parts[G.account.rawValue] == account && parts[G.period.rawValue] == period
                && parts[G.rate.rawValue] == rate && parts[G.sub.rawValue] == sub && parts[G.model.rawValue] == model { return }
            (parts[G.constant.rawValue], parts[G.account.rawValue], parts[G.period.rawValue]) = (constant, account, period)
            (parts[G.rate.rawValue], parts[G.sub.rawValue], parts[G.model.rawValue]) = (rate, sub, model)
            let parts = self.parts
            // Built in locals (taken out of `self`, so no copy) while the arena is read.
            var bytes = self.bytes, ends = self.ends
            (self.bytes, self.ends) = ([], [])
            defer { (self.bytes, self.ends) = (bytes, ends) }
            ends.removeAll(keepingCapacity: true)
            let columns = arena.columns, stride = columns + 1
            arena.starts.withUnsafeBufferPointer { starts in
                // Room first (never shrunk): at most every cached part's bytes (a part's columns
                // are contiguous in the arena) and a comma per column.
                var size = columns
                for g in 0..<CSVGroup.cached where g != CSVGroup.tags.rawValue {
                    let base = Int(parts[g]) * stride
                    size += Int(starts[base + columns]) - Int(starts[base])
                }
                if bytes.count < size { bytes = [UInt8](repeating: 0, count: Swift.max(size, 2 * bytes.count)) }
                arena.bytes.withUnsafeBytes { a in
                    bytes.withUnsafeMutableBytes { out in
                        group.withUnsafeBufferPointer { group in
                            var n = 0
                            for k in 0..<columns {
                                if k > 0 { out[n] = 0x2C; n += 1 }
                                let g = group[k]
                                if Self.isHole(g) { ends.append(n); continue }
                                let base = Int(parts[Int(g.rawValue)]) * stride + k
                                let from = Int(starts[base]), count = Int(starts[base + 1]) - from
                                if count > 0 { (out.baseAddress! + n).copyMemory(from: a.baseAddress! + from, byteCount: count) }
                                n += count
                            }
                            ends.append(n)
                        }
                    }
                }
            }
        }

        /// Whether the group's columns are filled per row (not part of the template).
        @inline(__always)
        static func isHole(_ g: CSVGroup) -> Bool { g.rawValue >= CSVGroup.cached || g == .tags }

        /// One CSV line (with its newline): the template's segments with the row's values between
        /// them (`mutating`: the cost is formatted into `cost` once for its five columns).
        mutating func assemble(into line: inout ByteBuffer, tags: Int32, cost billed: ExactDecimal, quantity: ExactDecimal,
                               pricingQuantity: ExactDecimal) {
            cost.removeAll(keepingCapacity: true)
            cost.appendDecimal(billed)
            // Unsafe views of every array for the whole line: no reference counting per piece.
            cost.withUnsafeBytes { cost in
            holes.withUnsafeBufferPointer { holes in
                ends.withUnsafeBufferPointer { ends in
                    bytes.withUnsafeBytes { t in
                        arena.bytes.withUnsafeBytes { a in
                            arena.starts.withUnsafeBufferPointer { starts in
                                var from = 0
                                for i in 0..<holes.count {
                                    line.append(UnsafeRawBufferPointer(rebasing: t[from..<ends[i]]))
                                    from = ends[i]
                                    switch holes[i].group {
                                    case .cost: line.append(cost)
                                    case .chargeStart: line.append(chargeStart)
                                    case .chargeEnd: line.append(chargeEnd)
                                    case .consumed: line.appendDecimal(quantity)
                                    case .pricingQuantity: line.appendDecimal(pricingQuantity)
                                    default:
                                        let base = Int(tags) * (arena.columns + 1) + holes[i].column
                                        line.append(UnsafeRawBufferPointer(rebasing: a[Int(starts[base])..<Int(starts[base + 1])]))
                                    }
                                }
                                line.append(UnsafeRawBufferPointer(rebasing: t[from..<ends[holes.count]]))
                            }
                        }
                    }
                }
            }
            }
            line.append(0x0A)
        }
    }

    /// Every output cell in order, split into its included-allowance and charged parts.
    /// Without spills the whole table is sorted at once; with spills, one UTC day of charge period
    /// start at a time: that day's cells from every spill and from the table, summed, then sorted
    /// (the order starts with the charge period, so the days come out in the same order).
    private func forEachCell(_ body: (Key, ExactDecimal, BillingPeriod, Bool) throws -> Void) throws {
        // The order compares names by their text: each id gets its rank (1-based; 0 is "none").
        let rank: [UInt64] = {
            var r = [UInt64](repeating: 0, count: names.count)
            for (k, i) in names.indices.sorted(by: { names[$0] < names[$1] }).enumerated() { r[i] = UInt64(k + 1) }
            return r
        }()
        let priceRank: [UInt64] = {
            let priceIds = rateCard.rates.map(\.skuPriceId)
            var r = [UInt64](repeating: 0, count: priceIds.count)
            for (k, i) in priceIds.indices.sorted(by: { priceIds[$0] < priceIds[$1] }).enumerated() { r[i] = UInt64(k + 1) }
            return r
        }()
        /// Bits that hold any name rank (0…names.count) and any price rank (0…rates.count).
        let nameBits = UInt64.bitWidth - UInt64(names.count).leadingZeroBitCount
        let priceBits = UInt64.bitWidth - UInt64(rateCard.rates.count).leadingZeroBitCount
        /// Sorts cells by a key of packed integers built once per cell (no lookups per comparison).
        /// The positions of `keys` in output order (no sorted copy of the cells themselves).
        func order(_ keys: [Key]) -> [Int32] {
            rank.withUnsafeBufferPointer { rank in
                func rk(_ i: Int32) -> UInt64 { i < 0 ? 0 : rank[Int(i)] }
                // Usually the whole key fits 128 bits: the day's few charge periods by rank, then
                // the nine ranks, each in as many bits as its largest value needs, in the order the
                // fields compare — the same order, from two-word keys that sort several times faster.
                var seen = Set<PeriodBounds>()
                var last = PeriodBounds(start: .min, end: .min)
                for k in keys where k.chargeStart != last.start || k.chargeEnd != last.end {
                    last = PeriodBounds(start: k.chargeStart, end: k.chargeEnd)
                    seen.insert(last)
                }
                let periods = seen.sorted { ($0.start, $0.end) < ($1.start, $1.end) }
                let periodBits = UInt64.bitWidth - UInt64(periods.count).leadingZeroBitCount
                if periodBits + 8 * nameBits + priceBits <= 128 {
                    var periodRank: [PeriodBounds: UInt64] = [:]
                    for (r, p) in periods.enumerated() { periodRank[p] = UInt64(r) }
                    var keyed = keys.indices.map { n -> PackedKey in
                        let k = keys[n]
                        var key = PackedKey(hi: 0, lo: 0, index: Int32(n))
                        key.push(periods.count == 1 ? 0 : periodRank[PeriodBounds(start: k.chargeStart, end: k.chargeEnd)]!, periodBits)
                        key.push(rk(k.billingAccount), nameBits); key.push(rk(k.subAccount), nameBits)
                        key.push(rk(k.provider), nameBits); key.push(rk(k.model), nameBits)
                        key.push(rk(k.meter), nameBits); key.push(rk(k.tier), nameBits)
                        key.push(rk(k.reportedModel), nameBits)
                        key.push(priceRank[Int(k.rate)], priceBits)
                        key.push(rk(k.tags), nameBits)
                        return key
                    }
                    PackedKey.sort(&keyed, bits: periodBits + 8 * nameBits + priceBits)
                    return keyed.map(\.index)
                }
                var keyed = keys.indices.map { n -> (SortKey, Int32) in
                    let k = keys[n]
                    return (SortKey(a: UInt64(bitPattern: k.chargeStart) ^ (1 << 63), b: UInt64(bitPattern: k.chargeEnd) ^ (1 << 63),
                                    c: rk(k.billingAccount) << 32 | rk(k.subAccount), d: rk(k.provider) << 32 | rk(k.model),
                                    e: rk(k.meter) << 32 | rk(k.tier), f: rk(k.reportedModel) << 32 | priceRank[Int(k.rate)],
                                    g: rk(k.tags)), Int32(n))
                }
                keyed.sort { $0.0 < $1.0 }
                return keyed.map(\.1)
            }
        }
        let included = rateCard.rates.map(\.includedPerMonth)
        var offsets: [Int32: Int64] = [:]
        // Monthly allowances (a rate's included_per_month): consumed in charge-period order per
        // billing account, provider and meter — and plan segment, when plans.csv puts the account
        // on a plan: each plan of the month brings its share of its own allowance (prorated by
        // day). The included part is a $0 row of its own.
        var remaining: [String: ExactDecimal] = [:]
        var lastPeriod: (start: Int64, offset: Int64, period: BillingPeriod?) = (.min, 0, nil)
        func emit(_ keys: [Key], _ values: [ExactDecimal], _ ordered: [Int32]) throws {
            for n in ordered {
                let (key, quantity) = (keys[Int(n)], values[Int(n)])
                let offset = timeZones.isEmpty ? 0 : offsets[key.provider] ?? {
                    let v = timeZones.offset(names[Int(key.provider)]); offsets[key.provider] = v; return v
                }()
                let billing: BillingPeriod
                if key.chargeStart == lastPeriod.start, offset == lastPeriod.offset, let p = lastPeriod.period { billing = p } else {
                    billing = BillingTimeZones.period(of: Timestamp(secondsSinceEpoch: key.chargeStart), offset: offset)
                    lastPeriod = (key.chargeStart, offset, billing)
                }
                guard let included = included[Int(key.rate)] else {
                    try body(key, quantity, billing, false)
                    continue
                }
                if gaugeMeterIds.contains(key.meter) {
                    // A peak against its plan's cap: each row on its own (no pool across plans).
                    let free = min(included, quantity)
                    if !free.isZero { try body(key, free, billing, true) }
                    if free < quantity { try body(key, quantity - free, billing, false) }
                    continue
                }
                var allowanceKey = "\(billing)|\(key.billingAccount)|\(key.provider)|\(key.meter)"
                var allowance = included
                if !plans.isEmpty, let seg = plans.segment(provider: names[Int(key.provider)], account: names[Int(key.billingAccount)],
                                                           on: Timestamp(secondsSinceEpoch: key.chargeStart).date) {
                    allowanceKey += "|\(seg.from)"
                    allowance = PlanSchedule.allowance(included, of: seg, in: billing)
                }
                let left = remaining[allowanceKey] ?? allowance
                let free = min(left, quantity)
                remaining[allowanceKey] = left - free
                if !free.isZero { try body(key, free, billing, true) }
                if free < quantity { try body(key, quantity - free, billing, false) }
            }
        }
        if spills.isEmpty {
            let keys = cells.keys + gauges.keys
            try emit(keys, cells.values + gauges.values, order(keys))
            return
        }
        var inMemory: [Int64: [(key: Key, value: ExactDecimal)]] = [:]
        for e in cells { inMemory[CellSpill.day(e.key.chargeStart), default: []].append(e) }
        for e in gauges { inMemory[CellSpill.day(e.key.chargeStart), default: []].append(e) }
        var days = Set(inMemory.keys)
        for s in spills {
            try s.file.finishWrites()
            days.formUnion(s.file.segments.keys)
        }
        let sortedDays = days.sorted()
        // Two stages on two threads: day d + 1's cells are read back, summed and put in order
        // while day d's rows are handed to `body` (allowances are consumed in order, so the rows
        // themselves stay on this thread).
        var table = CellTable()
        let spills = self.spills
        let recycled = Recycled<(keys: [Key], values: [ExactDecimal])>()
        let merged = Prefetched(count: sortedDays.count, label: "reckon.estimate-days") { n -> ([Key], [ExactDecimal], [Int32]) in
            table.removeAll(keepingCapacity: true)
            if let (keys, values) = recycled.take() { table.adopt(keys: keys, values: values) }
            // Added a batch at a time (see `CellTable.add(batch:mixes:)`).
            try withUnsafeTemporaryAllocation(of: (key: Key, value: ExactDecimal).self, capacity: 32) { batch in
                try withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 32) { mixes in
                    var held = 0
                    for (file, map) in spills {
                        try file.forEach(day: sortedDays[n]) { k, q in
                            (batch.baseAddress! + held).initialize(to: (Self.translate(k, map), q))
                            held += 1
                            if held == batch.count {
                                table.add(batch: UnsafeBufferPointer(batch), mixes: mixes)
                                held = 0
                            }
                        }
                    }
                    table.add(batch: UnsafeBufferPointer(rebasing: batch[..<held]), mixes: mixes)
                }
            }
            for (k, q) in inMemory[sortedDays[n]] ?? [] { table.add(k, q) }
            // The table's arrays are handed over, not copied (its slots stay for the next day).
            let (keys, values) = table.takeEntries()
            return (keys, values, order(keys))
        }
        defer { merged.finish() }
        while var (keys, values, ordered) = try merged.next() {
            try emit(keys, values, ordered)
            ordered = []
            keys.removeAll(keepingCapacity: true)
            values.removeAll(keepingCapacity: true)
            recycled.put((keys, values))
        }
    }

    /// The rows grouped by billing period (for tests and small runs; the stage streams `forEachRow`).
    public func rows(rateCardVersion: String) throws -> [BillingPeriod: [FocusRow]] {
        var out: [BillingPeriod: [FocusRow]] = [:]
        try forEachRow(rateCardVersion: rateCardVersion) { out[$0, default: []].append($1) }
        return out
    }

    private func row(_ key: Key, _ quantity: ExactDecimal, _ billing: BillingPeriod, _ version: String,
                     included: Bool = false) -> FocusRow {
        var rate = rateCard.rates[Int(key.rate)]
        if included { rate.unitPrice = .zero }
        let meter = Meter.catalog[names[Int(key.meter)]]!
        let provider = names[Int(key.provider)], account = names[Int(key.billingAccount)], sub = names[Int(key.subAccount)]
        let model = names[Int(key.model)], tier = names[Int(key.tier)]
        let pricingQuantity = quantity.shiftedLeft(by: rate.blockSizeExponent)
        var r = FocusRow()
        r.setPricedCharge(rate: rate, unitPrice: rate.unitPrice, pricingQuantity: pricingQuantity, provider: provider,
                          account: account, accounts: accounts, period: billing, meter: meter, rateCardVersion: version)
        if !timeZones.isEmpty {
            let bounds = BillingTimeZones.bounds(billing, offset: timeZones.offset(provider))
            r.set(.billingPeriodStart, bounds.start)
            r.set(.billingPeriodEnd, bounds.end)
        }
        r.set(.chargeCategory, "Usage")
        var variant: [String] = tier == "standard" ? [] : [tier]
        if let pt = rate.promptTier { variant.append("prompt \(pt) tokens") }
        if meter.isGauge, let cap = rate.includedPerMonth {
            let text = Self.plain(cap)
            variant.append(included ? "peak within the plan's \(text) \(meter.consumedUnit)" : "peak above the plan's \(text) \(meter.consumedUnit) cap")
        } else if included {
            variant.append("included in the monthly allowance")
        }
        r.set(.chargeDescription, "\(model) \(meter.displayName)" + (variant.isEmpty ? "" : " (\(variant.joined(separator: ", ")))"))
        r.set(.chargeFrequency, "Usage-Based")
        r.set(.chargePeriodStart, Timestamp(secondsSinceEpoch: key.chargeStart))
        r.set(.chargePeriodEnd, Timestamp(secondsSinceEpoch: key.chargeEnd))
        r.set(.consumedQuantity, quantity)
        r.set(.consumedUnit, meter.consumedUnit)
        r.set(.skuPriceId, rate.skuPriceId + (included ? ":included" : ""))
        if included { r.set(.xChargeSubType, "Included allowance") } else if meter.isGauge && rate.includedPerMonth != nil { r.set(.xChargeSubType, "Above plan cap") }
        var details: [(key: String, value: JSONValue)] = [("x_ServiceTier", .string(tier))]
        if let pt = rate.promptTier { details.append(("x_PromptTier", .string(pt.description))) }
        r[.skuPriceDetails] = .json(details)
        if !sub.isEmpty {
            r.set(.subAccountId, sub)
            r.set(.subAccountName, accounts.subAccountName(provider: provider, id: sub) ?? sub)
        }
        if key.tags >= 0, let tags = tagSets[key.tags] { r[.tags] = .json(tags.map { ($0.key, .string($0.value)) }) }
        r.set(.xModel, names[Int(key.reportedModel)])
        r.set(.xServiceTier, tier)
        return r
    }
}

extension FocusRow {
    /// Sets the columns every charge Reckon prices from a rate card shares (usage rows and plan
    /// fees): the four costs and the pricing-currency cost (= unit price × pricing quantity, exact,
    /// never rounded), list and contracted unit prices, billing account and period, currency,
    /// pricing unit, the service columns, SKU id and meter, price source and rate-card version.
    /// Callers set the charge category, description, periods and their own SKU price id.
    mutating func setPricedCharge(rate: Rate, unitPrice: ExactDecimal, pricingQuantity: ExactDecimal, provider: String,
                                  account: String, accounts: AccountNames, period: BillingPeriod, meter: Meter,
                                  rateCardVersion: String) {
        let cost = unitPrice * pricingQuantity
        set(.billedCost, cost)
        set(.effectiveCost, cost)
        set(.listCost, cost)
        set(.contractedCost, cost)
        set(.pricingCurrencyEffectiveCost, cost)
        set(.billingAccountId, account)
        set(.billingAccountName, accounts.billingAccountName(provider: provider, id: account) ?? account)
        set(.billingCurrency, rate.currency)
        set(.billingPeriodStart, period.start)
        set(.billingPeriodEnd, period.end)
        set(.pricingQuantity, pricingQuantity)
        set(.pricingUnit, rate.pricingUnit)
        set(.listUnitPrice, unitPrice)
        set(.contractedUnitPrice, unitPrice)
        set(.pricingCurrencyListUnitPrice, unitPrice)
        set(.pricingCurrencyContractedUnitPrice, unitPrice)
        set(.pricingCategory, "Standard")
        set(.pricingCurrency, rate.currency)
        setService(ProviderProfile.named(provider))
        set(.skuId, rate.skuId)
        set(.skuMeter, meter.displayName)
        set(.xPriceSource, rate.source)
        set(.xRateCardVersion, rateCardVersion)
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

    mutating func merge(_ o: UnpricedUsage) {
        quantity += o.quantity
        records += o.records
    }

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

// MARK: - Partial results (shard mode)

extension EstimatedRowBuilder {
    /// Everything the builder has summed, as JSON values with names instead of interned ids: the
    /// partial result of one shard (`reckon-transform --shard i/N`). `absorb` adds such a value to
    /// another builder; absorbing every shard's values gives the same outputs as one run.
    /// - Memory: one value at a time (the cells are not copied).
    public func forEachPartialValue(_ body: (JSONValue) throws -> Void) throws {
        func n(_ i: Int32) -> JSONValue { i < 0 ? .number(String(i)) : .string(names[Int(i)]) }
        for (i, set) in tagSets {
            try body(.object([("tagset", n(i)), ("tags", .array(set.map { .array([.string($0.key), .string($0.value)]) }))]))
        }
        func cell(_ k: Key, _ q: ExactDecimal) throws {
            try body(.object([("cell", .array([.number(String(k.chargeStart)), .number(String(k.chargeEnd)), n(k.billingAccount),
                                               n(k.subAccount), n(k.provider), n(k.model), n(k.reportedModel), n(k.meter), n(k.tier),
                                               .number(String(k.rate)), n(k.tags)])), ("q", .decimal(q))]))
        }
        for (k, q) in cells { try cell(k, q) }
        for (k, q) in gauges {
            try body(.object([("gauge", .array([.number(String(k.chargeStart)), .number(String(k.chargeEnd)), n(k.billingAccount),
                                                n(k.subAccount), n(k.provider), n(k.model), n(k.reportedModel), n(k.meter), n(k.tier),
                                                .number(String(k.rate)), n(k.tags)])), ("q", .decimal(q))]))
        }
        for (file, map) in spills { try file.forEachRecord { k, q in try cell(Self.translate(k, map), q) } }
        for (k, u) in unpricedTotals {
            try body(.object([("unpriced", .array([.string(k.period.description), .string(k.billingAccount), .string(k.provider),
                                                   .string(k.model), .string(k.meter), .string(k.serviceTier)])),
                              ("q", .decimal(u.quantity)), ("records", .number(String(u.records)))]))
        }
        try body(.object([("counts", .array([counts.rowsRead, counts.rowsOut, counts.rowsQuarantined, skippedOtherPeriods]
            .map { .number(String($0)) }))]))
        try rollups.forEachPartialValue(name: n, body)
    }

    /// Adds one value written by `forEachPartialValue` (of a builder with the same rate card).
    /// - Throws: a message when the value is not one.
    public mutating func absorb(_ v: JSONValue) throws(PartialDecodeError) {
        func i(_ x: JSONValue?) throws(PartialDecodeError) -> Int32 { try PartialDecodeError.id(x) { id($0) } }
        func int64(_ x: JSONValue?) throws(PartialDecodeError) -> Int64 {
            guard case .number(let n)? = x, let v = Int64(n) else { throw PartialDecodeError() }
            return v
        }
        let gauge = v["gauge"] != nil
        if case .array(let c)? = v[gauge ? "gauge" : "cell"], c.count == 11, let q = v["q"]?.decimal {
            let key = Key(chargeStart: try int64(c[0]), chargeEnd: try int64(c[1]), billingAccount: try i(c[2]), subAccount: try i(c[3]),
                          provider: try i(c[4]), model: try i(c[5]), reportedModel: try i(c[6]), meter: try i(c[7]), tier: try i(c[8]),
                          rate: try i(c[9]), tags: try i(c[10]))
            guard key.rate >= 0 && Int(key.rate) < rateCard.rates.count else { throw PartialDecodeError() }
            if gauge { gauges[key] = max(gauges[key] ?? q, q) } else { cells.add(key, q) }
        } else if let tagset = v["tagset"], case .array(let pairs)? = v["tags"] {
            let t = try i(tagset)
            if tagSets[t] == nil {
                tagSets[t] = try pairs.map { p throws(PartialDecodeError) in
                    guard case .array(let kv) = p, kv.count == 2, let k = kv[0].string, let value = kv[1].string else { throw PartialDecodeError() }
                    return (key: k, value: value)
                }
            }
        } else if case .array(let u)? = v["unpriced"], u.count == 6, let q = v["q"]?.decimal, case .number(let r)? = v["records"],
                  let records = Int(r), let period = u[0].string.flatMap({ BillingPeriod($0) }) {
            let strings = u.compactMap(\.string)
            guard strings.count == 6 else { throw PartialDecodeError() }
            let key = UnpricedUsage.Key(period: period, billingAccount: strings[1], provider: strings[2], model: strings[3],
                                        meter: strings[4], serviceTier: strings[5])
            unpricedTotals[key, default: UnpricedUsage(key: key)].merge(UnpricedUsage(key: key, quantity: q, records: records))
        } else if case .array(let c)? = v["counts"], c.count == 4 {
            let n = try c.map { x throws(PartialDecodeError) in Int(try int64(x)) }
            counts.rowsRead += n[0]; counts.rowsOut += n[1]; counts.rowsQuarantined += n[2]; skippedOtherPeriods += n[3]
        } else {
            // Rollups need this builder's ids: take them out while they absorb (no copy: the storage moves).
            var r = rollups
            rollups = Rollups()
            defer { rollups = r }
            guard try r.absorb(v, id: { s in id(s) }) else { throw PartialDecodeError() }
        }
    }
}

/// A line of a shard's partial result that is not one.
public struct PartialDecodeError: Error, Sendable {
    /// An interned id written in a partial result: a name (interned here with `intern`), or a
    /// number for the places that hold none (negative ids, rate indexes).
    static func id(_ x: JSONValue?, intern: (String) -> Int32) throws(PartialDecodeError) -> Int32 {
        switch x {
        case .string(let s)?: return intern(s)
        case .number(let n)?: guard let v = Int32(n) else { throw PartialDecodeError() }; return v
        default: throw PartialDecodeError()
        }
    }
}
