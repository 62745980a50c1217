import Foundation
import Testing
import ReckonCore
import ReckonExtract
import ReckonFocus
@testable import ReckonPricing
import ReckonTransform

/// The shipped rate cards and the pricing engine against hand-computed costs.
@Suite("Pricing")
struct PricingTests {
    static let root: String = {
        var p = #filePath
        for _ in 0..<3 { p = String(p[..<p.lastIndex(of: "/")!]) }
        return p
    }()
    static let card: RateCard = try! RateCard.load(folder: root + "/Samples/ratecards")

    static func fixtureCard(_ name: String) throws -> RateCard {
        let dir = NSTemporaryDirectory() + "reckon-card-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/Tests/PricingTests/Fixtures/" + name, toPath: dir + "/" + name)
        return try RateCard.load(folder: dir)
    }

    /// Prices one record through the transform's estimator: (total cost, cost per meter, unpriced count).
    static func price(_ provider: String, _ model: String, at time: String, tier: String = "standard",
                      bucket: Bool = false, contextWindow: String? = nil,
                      _ q: [(String, ExactDecimal)], card: RateCard = card) -> (total: ExactDecimal, byMeter: [String: ExactDecimal], unpriced: Int) {
        let t = Timestamp(rfc3339: time)!
        var r = UsageRecord(provider: provider, billingAccountId: "acct", subAccountId: nil, model: model, periodStart: t,
                            periodEnd: bucket ? t.adding(seconds: 86_400) : t, serviceTier: tier,
                            quantities: q.map { ($0.0, $0.1) }, source: SourcePosition(file: "test"))
        r.contextWindow = contextWindow
        var b = EstimatedRowBuilder(rateCard: card, accounts: AccountNames(), period: nil)
        var unpriced = 0
        var byMeter: [String: ExactDecimal] = [:]
        let rowsByPeriod: [BillingPeriod: [FocusRow]]
        do {
            try b.add(r) { _ in unpriced += 1 }
            rowsByPeriod = try b.rows(rateCardVersion: "test")
        } catch {
            Issue.record(error)
            return (.zero, [:], 0)
        }
        for rows in rowsByPeriod.values {
            for row in rows {
                let meter = row[.skuId].string!.split(separator: ":").last.map(String.init)!
                byMeter[meter, default: .zero] += row[.billedCost].decimal!
                #expect(row[.listCost].decimal == row[.listUnitPrice].decimal! * row[.pricingQuantity].decimal!)
            }
        }
        return (byMeter.values.sum(), byMeter, unpriced)
    }

    // MARK: Invariants over every shipped card: a copy-paste error fails the build.

    @Test func anthropicCacheMultipliersAndBatchHalfHoldEverywhere() throws {
        let anthropic = Self.card.rates.filter { $0.provider == "anthropic" && $0.meter.hasPrefix("tokens_") }
        #expect(anthropic.count == 120)  // (8 models + 4 long-context tiers) × 2 service tiers × 5 token meters
        let groups = Dictionary(grouping: anthropic, by: { "\($0.model)|\($0.serviceTier)|\($0.promptTier?.description ?? "")|\($0.effectiveFrom)" })
        var checked = 0
        for (key, rates) in groups {
            let p = Dictionary(uniqueKeysWithValues: rates.map { ($0.meter, $0.unitPrice) })
            let input = try #require(p["tokens_input"], "\(key)")
            #expect(p["tokens_cache_write_5m"] == input * "1.25", "\(key) 5m write")
            #expect(p["tokens_cache_write_1h"] == input * 2, "\(key) 1h write")
            #expect(p["tokens_cache_read"] == input * "0.1", "\(key) cache read")
            checked += 1
        }
        #expect(checked == 24)  // 8 models × 2 tiers + 4 long-context tiers × 2
    }

    @Test func batchIsHalfOfStandardForEveryTokenMeter() throws {
        var pairs = 0
        for r in Self.card.rates where r.serviceTier == "batch" && r.meter.hasPrefix("tokens_") {
            guard let standard = Self.card.rates.first(where: {
                $0.provider == r.provider && $0.model == r.model && $0.meter == r.meter && $0.serviceTier == "standard"
                    && $0.promptTier == r.promptTier && $0.effectiveFrom == r.effectiveFrom
            }) else { Issue.record("no standard rate for batch \(r.skuPriceId)"); continue }
            // Cached input keeps its standard price where the provider publishes no batch price for it (OpenAI, Gemini).
            if r.meter == "tokens_cache_read" && r.provider != "anthropic" && r.unitPrice == standard.unitPrice { continue }
            #expect(r.unitPrice * 2 == standard.unitPrice, "\(r.skuPriceId)")
            pairs += 1
        }
        #expect(pairs >= 80)
    }

    @Test func everyRateNamesItsSourceAndCheckDate() throws {
        for r in Self.card.rates {
            #expect(r.source.hasPrefix("https://"), "\(r.skuPriceId)")
            #expect(r.checkedOn != nil, "\(r.skuPriceId)")
        }
        // The models the issue lists are all there.
        for (p, m) in [("anthropic", "claude-haiku-4-5"), ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-opus-4-5"),
                       ("anthropic", "claude-opus-4-1"), ("anthropic", "claude-sonnet-4"), ("anthropic", "claude-opus-4"),
                       ("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "gpt-4.1"), ("openai", "gpt-5"),
                       ("openai", "o3"), ("openai", "o4-mini"), ("google", "gemini-2.5-pro"), ("google", "gemini-2.5-flash")] {
            #expect(Self.card.canonicalModel(provider: p, model: m) == m, "\(p) \(m)")
        }
        #expect(Self.card.canonicalModel(provider: "anthropic", model: "claude-sonnet-4-5-20250929") == "claude-sonnet-4-5")
    }

    @Test func overlappingPricesNameBothPlaces() throws {
        let error = #expect(throws: ReckonError.self) { _ = try Self.fixtureCard("overlap.csv") }
        #expect(error?.message.contains("overlap.csv:2 from 2026-01-01") == true)
        #expect(error?.position?.line == 3)
    }

    // MARK: Hand-computed costs.

    @Test func sonnetEveryTokenMeterStandardAndBatch() throws {
        let q: [(String, ExactDecimal)] = [("tokens_input", 1000), ("tokens_output", 500), ("tokens_cache_read", 2000),
                                           ("tokens_cache_write_5m", 300), ("tokens_cache_write_1h", 100)]
        // 1000×3 + 500×15 + 2000×0.30 + 300×3.75 + 100×6 = 12,825 per million
        let standard = Self.price("anthropic", "claude-sonnet-4-5-20250929", at: "2025-10-15T12:00:00Z", q)
        #expect(standard.total == "0.012825")
        #expect(standard.byMeter["tokens_cache_write_1h"] == "0.0006")
        #expect(Self.price("anthropic", "claude-sonnet-4-5", at: "2025-10-15T12:00:00Z", tier: "batch", q).total == "0.0064125")
    }

    @Test func longContextRepricesEveryTokenOfTheRequest() throws {
        // 250k prompt: all at the tier (input $6, output $22.50): 250000×6 + 1000×22.5 = 1,522,500 per million.
        let long = Self.price("anthropic", "claude-sonnet-4-5", at: "2025-10-15T00:00:00Z", [("tokens_input", 250_000), ("tokens_output", 1000)])
        #expect(long.total == "1.5225")
        // Exactly 200,000 (input + cache read) is not above 200,000: base rates.
        let at = Self.price("anthropic", "claude-sonnet-4-5", at: "2025-10-15T00:00:00Z", [("tokens_input", 150_000), ("tokens_cache_read", 50_000)])
        #expect(at.total == "0.465")
        // One token more: every token at the tier, cache reads included (0.60).
        let above = Self.price("anthropic", "claude-sonnet-4-5", at: "2025-10-15T00:00:00Z", [("tokens_input", 150_001), ("tokens_cache_read", 50_000)])
        #expect(above.total == "0.930006")
        // After the long-context tier ended (2026-04-30) the same request is at base rates.
        let later = Self.price("anthropic", "claude-sonnet-4-5", at: "2026-05-01T00:00:00Z", [("tokens_input", 250_000), ("tokens_output", 1000)])
        #expect(later.total == "0.765")
    }

    @Test func batchTimesLongContextTimesOneHourWrites() throws {
        // Prompt 190k input + 20k 1h writes = 210k > 200k; batch halves the tier rates:
        // 190000×3 + 20000×6 + 1000×11.25 = 701,250 per million.
        let r = Self.price("anthropic", "claude-sonnet-4-5", at: "2025-12-01T00:00:00Z", tier: "batch",
                           [("tokens_input", 190_000), ("tokens_cache_write_1h", 20_000), ("tokens_output", 1000)])
        #expect(r.total == "0.70125")
        #expect(r.byMeter["tokens_cache_write_1h"] == "0.12")
    }

    @Test func bucketsUseTheProvidersContextWindowClass() throws {
        let q: [(String, ExactDecimal)] = [("tokens_input", 1_000_000)]
        #expect(Self.price("anthropic", "claude-sonnet-4-5", at: "2025-10-15T00:00:00Z", bucket: true, contextWindow: "0-200k", q).total == 3)
        #expect(Self.price("anthropic", "claude-sonnet-4-5", at: "2025-10-15T00:00:00Z", bucket: true, contextWindow: "200k-1M", q).total == 6)
        // A bucket's summed tokens say nothing about any one request: no tier from its size.
        #expect(Self.price("anthropic", "claude-sonnet-4-5", at: "2025-10-15T00:00:00Z", bucket: true, q).total == 3)
    }

    @Test func inclusiveThresholdIsAProviderSetting() throws {
        let card = try Self.fixtureCard("inclusive.csv")
        // >=128000: the threshold itself is at the tier rate.
        #expect(Self.price("xai", "grok-test", at: "2026-02-01T00:00:00Z", [("tokens_input", 128_000), ("tokens_output", 1000)], card: card).total == "0.532")
        #expect(Self.price("xai", "grok-test", at: "2026-02-01T00:00:00Z", [("tokens_input", 127_999), ("tokens_output", 1000)], card: card).total == "0.265998")
    }

    @Test func pricesByDateOnBothSidesOfAChange() throws {
        let q: [(String, ExactDecimal)] = [("tokens_input", 1_000_000), ("tokens_output", 1_000_000)]
        #expect(Self.price("openai", "o3", at: "2025-06-09T23:59:59Z", q).total == 50)
        #expect(Self.price("openai", "o3", at: "2025-06-10T00:00:00Z", q).total == 10)
        // Before the model existed: unpriced, never $0.
        let early = Self.price("openai", "o3", at: "2025-04-15T00:00:00Z", q)
        #expect(early.total == 0 && early.unpriced == 2)
    }

    @Test func openAICachedTokensArePricedOnceAsCachedInput() throws {
        // Extract turned input_tokens 1000 (800 cached) into 200 uncached + 800 cached.
        let r = Self.price("openai", "gpt-4o-2024-08-06", at: "2026-10-05T00:00:00Z",
                           [("tokens_input", 200), ("tokens_cache_read", 800), ("tokens_output", 500)])
        #expect(r.total == "0.0065")  // 200×2.50 + 800×1.25 + 500×10
    }

    @Test(arguments: [("standard", "1.25"), ("batch", "0.625"), ("flex", "0.625"), ("priority", "2.5")])
    func openAIServiceTiers(tier: String, expected: String) throws {
        #expect(Self.price("openai", "gpt-5", at: "2026-10-05T00:00:00Z", tier: tier, [("tokens_input", 1_000_000)]).total == ExactDecimal(expected)!)
    }

    @Test func perCallFeesAreNeverZero() throws {
        #expect(Self.price("anthropic", "claude-haiku-4-5", at: "2026-10-05T00:00:00Z", [("web_search_requests", 3)]).total == "0.03")
        #expect(Self.price("openai", "gpt-4o", at: "2026-10-05T00:00:00Z", [("web_search_requests", 2)]).total == "0.02")
        #expect(Self.price("google", "gemini-2.5-flash", at: "2026-10-05T00:00:00Z", [("web_search_requests", 1)]).total == "0.035")
        #expect(Self.price("anthropic", "claude-opus-4-5", at: "2026-10-05T00:00:00Z", [("managed_agent_session_runtime", "1.5")]).total == "0.12")
    }

    @Test func codeExecutionHoursAreFreeUpToTheMonthlyAllowance() throws {
        // 1,550 free container-hours a month per organisation, then $0.05 an hour: 450 × 0.05.
        let r = Self.price("anthropic", "claude-sonnet-4-5", at: "2026-10-05T00:00:00Z", [("code_execution_hours", 2000)])
        #expect(r.total == "22.5")
        #expect(Self.price("anthropic", "claude-sonnet-4-5", at: "2026-10-05T00:00:00Z", [("code_execution_hours", "1549.5")]).total == 0)
    }

    @Test func geminiProLongContext() throws {
        #expect(Self.price("google", "gemini-2.5-pro", at: "2026-10-05T00:00:00Z", [("tokens_input", 100_000), ("tokens_output", 1000)]).total == "0.135")
        #expect(Self.price("google", "gemini-2.5-pro", at: "2026-10-05T00:00:00Z", [("tokens_input", 300_000), ("tokens_output", 1000)]).total == "0.765")
    }

    @Test func unknownModelOrMeterIsUnpriced() throws {
        let r = Self.price("anthropic", "claude-unknown", at: "2026-10-05T00:00:00Z", [("tokens_input", 10), ("tokens_output", 5)])
        #expect(r.total == 0 && r.unpriced == 2 && r.byMeter.isEmpty)
        #expect(Self.price("openai", "gpt-4o", at: "2026-10-05T00:00:00Z", [("tokens_cache_write_5m", 10)]).unpriced == 1)
    }

    // MARK: LiteLLM import

    static func importCard(_ path: String, into dir: String) throws -> RateCard {
        let doc = try JSONParser.parse(try ByteStream.readAll(path: path))
        let (card, _) = LiteLLMImport.convert(doc, effectiveFrom: CivilDate("2026-11-01")!, checkedOn: CivilDate("2026-11-20")!)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try OutputFile.write(card, to: dir + "/litellm.csv")
        return try RateCard.load(folder: dir)
    }

    @Test func liteLLMImportMapsKeysExactlyAndInfersNothing() throws {
        let dir = NSTemporaryDirectory() + "reckon-litellm-\(UInt32.random(in: 0...UInt32.max))"
        let card = try Self.importCard(Self.root + "/Tests/PricingTests/Fixtures/litellm-sample.json", into: dir)
        func p(_ m: String, _ meter: String, _ tier: String = "standard", prompt: RateCard.PromptSize = .longContext(false)) -> ExactDecimal? {
            let provider = m.hasPrefix("gemini") ? "google" : "anthropic"
            return card.rate(provider: provider, model: m, meter: meter, serviceTier: tier, at: Timestamp(rfc3339: "2026-11-02T00:00:00Z")!, prompt: prompt)?.unitPrice
        }
        #expect(p("claude-sonnet-4-5", "tokens_input") == 3 && p("claude-sonnet-4-5", "tokens_output") == 15)
        #expect(p("claude-sonnet-4-5", "tokens_cache_write_5m") == "3.75" && p("claude-sonnet-4-5", "tokens_cache_write_1h") == 6)
        #expect(p("claude-sonnet-4-5", "tokens_input", "batch") == "1.5")
        #expect(p("claude-sonnet-4-5", "tokens_output", "batch") == nil)  // no such key: unpriced, not guessed
        #expect(p("claude-sonnet-4-5", "tokens_input", prompt: .tokens(250_000)) == 6)
        #expect(p("claude-sonnet-4-5", "tokens_cache_write_1h", prompt: .tokens(250_000)) == 12)
        #expect(p("claude-sonnet-4-5", "web_search_requests") == 10)
        #expect(p("gemini-2.5-flash", "tokens_input") == "0.3")
        #expect(card.rates.count == 12)  // embeddings, other providers and audio/reasoning keys are not imported
        // Before the stamped date nothing is priced.
        #expect(card.rate(provider: "anthropic", model: "claude-sonnet-4-5", meter: "tokens_input", serviceTier: "standard",
                          at: Timestamp(rfc3339: "2026-10-31T23:59:59Z")!) == nil)
    }

    @Test(.enabled(if: FileSystem.exists(PricingTests.root + "/../shared/pricing/litellm_model_prices.json")))
    func theWholeLiteLLMTableImportsWithoutConflicts() throws {
        let dir = NSTemporaryDirectory() + "reckon-litellm-full-\(UInt32.random(in: 0...UInt32.max))"
        let card = try Self.importCard(Self.root + "/../shared/pricing/litellm_model_prices.json", into: dir)
        #expect(card.rates.count > 1000)
        #expect(card.rate(provider: "openai", model: "gpt-4o", meter: "tokens_input", serviceTier: "standard",
                          at: Timestamp(rfc3339: "2026-11-02T00:00:00Z")!)?.unitPrice == "2.5")
    }

    /// A span whose records disagree on its parent shows the parent whose id sorts first by text,
    /// whatever order the records come in and however builders (threads, shards) are combined.
    @Test func aSpansParentDoesNotDependOnReadingOrder() throws {
        let t = Timestamp(rfc3339: "2026-10-05T10:00:00Z")!
        func record(_ parent: String) -> UsageRecord {
            var r = UsageRecord(provider: "openai", billingAccountId: "org", subAccountId: nil, model: "gpt-4o", periodStart: t, periodEnd: t,
                                serviceTier: "standard", quantities: [("tokens_input", 1000)], source: SourcePosition(file: "t"))
            r.spanId = "span-1"
            r.executionId = "exec-1"
            r.parentSpanId = parent
            return r
        }
        func spansTable(_ b: EstimatedRowBuilder) -> [[String?]] {
            b.rollups.tables(for: BillingPeriod(year: 2026, month: 10)!, names: { b.name($0) }, tags: { b.tags($0) }).first { $0.name == "spans" }!.rows
        }
        var forward = EstimatedRowBuilder(rateCard: Self.card, accounts: AccountNames(), period: nil)
        var backward = forward.emptyCopy(), second = forward.emptyCopy(), absorbed = forward.emptyCopy()
        for p in ["root-b", "root-a", "root-c"] { try forward.add(record(p)) { _ in } }
        for p in ["root-c", "root-a", "root-b"] { try backward.add(record(p)) { _ in } }
        try backward.add(record("root-b")) { _ in }
        try second.add(record("root-a")) { _ in }
        var merged = forward.emptyCopy()
        try merged.add(record("root-c")) { _ in }
        try merged.merge(second)
        try merged.forEachPartialValue { try absorbed.absorb($0) }
        #expect(spansTable(forward).first?[5] == "root-a")
        #expect(spansTable(backward).first?[5] == "root-a")
        #expect(spansTable(merged).first?[5] == "root-a" && spansTable(absorbed).first?[5] == "root-a")
    }

    /// dataset_storage is a level: the month's peak reading per plan, against that plan's cap —
    /// never the sum of the readings. The part above the cap is its own row, marked.
    @Test func datasetStorageIsTheMonthlyPeakAgainstThePlanCap() throws {
        var b = EstimatedRowBuilder(rateCard: Self.card, accounts: AccountNames(), period: nil)
        // The same readings split between two builders (threads) and through partial results (shards).
        var first = b.emptyCopy(), second = b.emptyCopy(), absorbed = b.emptyCopy()
        for (n, (day, plan, mb)) in [(3, "pro", "100"), (9, "pro", "180.5"), (12, "pro", "120"), (20, "team", "900"), (28, "team", "640")].enumerated() {
            let t = Timestamp(rfc3339: "2026-10-\(day < 10 ? "0" : "")\(day)T06:00:00Z")!
            let r = UsageRecord(provider: "promptlayer", billingAccountId: "cus_1", subAccountId: nil, model: plan, periodStart: t,
                                periodEnd: t, serviceTier: "standard", quantities: [("dataset_storage", ExactDecimal(stringLiteral: mb))],
                                source: SourcePosition(file: "t", line: day))
            try b.add(r) { _ in Issue.record("unpriced") }
            if n % 2 == 0 { try first.add(r) { _ in } } else { try second.add(r) { _ in } }
        }
        try first.merge(second)
        try first.forEachPartialValue { try absorbed.absorb($0) }
        for other in [first, absorbed] {
            var x: [UInt8] = [], y: [UInt8] = []
            try b.forEachCSVLine(rateCardVersion: "v") { _, lines, _ in x += lines }
            try other.forEachCSVLine(rateCardVersion: "v") { _, lines, _ in y += lines }
            #expect(!x.isEmpty && x == y)
        }
        let rows = try b.rows(rateCardVersion: "v")[BillingPeriod(year: 2026, month: 10)!] ?? []
        let storage = rows.map { ($0[.xModel].string!, $0[.consumedQuantity].decimal!, $0[.xChargeSubType].string ?? "", $0[.billedCost].decimal!) }
        #expect(storage.count == 3)
        #expect(storage.contains { $0 == ("pro", 150, "Included allowance", 0) })
        #expect(storage.contains { $0 == ("pro", "30.5", "Above plan cap", 0) })
        #expect(storage.contains { $0 == ("team", 900, "Included allowance", 0) })
        #expect(rows.allSatisfy { $0[.chargePeriodStart] == .dateTime(Timestamp(rfc3339: "2026-10-01T00:00:00Z")!) })
        #expect(rows.contains { $0[.chargeDescription].string == "pro Dataset Storage (monthly peak) (peak above the plan's 150 MB cap)" })
        #expect(b.counts.rowsRead == 5 && b.counts.rowsOut == 5)
    }

    // MARK: Property: sums over any grouping equal the priced records, none counted twice.

    @Test(arguments: [1, 2, 3])
    func rowSumsEqualRecordSumsForEveryGrouping(seed: UInt64) throws {
        var x = seed &* 0x9E3779B97F4A7C15
        func next(_ n: Int) -> Int { x = x &* 6364136223846793005 &+ 1442695040888963407; return Int((x >> 33) % UInt64(n)) }
        let models = [("anthropic", "claude-sonnet-4-5-20250929"), ("anthropic", "claude-haiku-4-5"), ("openai", "gpt-4o"),
                      ("openai", "gpt-5"), ("google", "gemini-2.5-pro")]
        let meters = ["tokens_input", "tokens_output", "tokens_cache_read"]
        var b = EstimatedRowBuilder(rateCard: Self.card, accounts: AccountNames(), period: nil)
        // The same records through a cell table of a few cells: spilled to disk, read back a day at a time.
        var spilled = EstimatedRowBuilder(rateCard: Self.card, accounts: AccountNames(), period: nil)
        spilled.limitCells(to: Int(seed) * 7 - 4, spillFolder: NSTemporaryDirectory() + "reckon-spill")
        var expected: [String: ExactDecimal] = [:]   // "day|…", "model|…", "tag|…", "sub|…" → cost
        var records = 0
        for i in 0..<2000 {
            let (provider, model) = models[next(models.count)]
            let day = 1 + next(28)
            let t = Timestamp(rfc3339: "2026-10-\(day < 10 ? "0" : "")\(day)T\(10 + next(12)):00:00Z")!
            let q: [(meter: String, quantity: ExactDecimal)] = meters.map { ($0, ExactDecimal(next(150_000))) }
            let team = ["search", "support", ""][next(3)]
            let sub = ["ws1", "ws2"][next(2)]
            var r = UsageRecord(provider: provider, billingAccountId: "acct", subAccountId: sub, model: model, periodStart: t, periodEnd: t,
                                serviceTier: next(5) == 0 ? "batch" : "standard", quantities: q,
                                tags: team.isEmpty ? [] : [("team", team)], source: SourcePosition(file: "gen", line: i))
            r.requestId = "r\(i)"
            // The record's cost, priced independently of the estimator.
            var cost = ExactDecimal.zero
            for (meter, quantity) in q where !quantity.isZero {
                let rate = Self.card.rate(provider: provider, model: model, meter: meter, serviceTier: r.serviceTier, at: t,
                                          prompt: .tokens(r.promptTokens))!
                cost += rate.unitPrice * quantity.shiftedLeft(by: rate.blockSizeExponent)
            }
            let canonical = Self.card.canonicalModel(provider: provider, model: model)!
            for key in ["day|\(t.date)", "model|\(canonical)", "tag|\(team)", "sub|\(sub)"] { expected[key, default: .zero] += cost }
            try b.add(r) { _ in Issue.record("unexpected unpriced usage") }
            try spilled.add(r) { _ in Issue.record("unexpected unpriced usage") }
            records += 1
        }
        var got: [String: ExactDecimal] = [:]
        var rows = 0
        for (_, list) in try b.rows(rateCardVersion: "p") {
            for row in list {
                rows += 1
                let cost = row[.billedCost].decimal!
                let day = { if case .dateTime(let d) = row[.chargePeriodStart] { return d.date.description } else { return "" } }()
                let team: String = { if case .json(let m) = row[.tags] { return m.first?.value.string ?? "" } else { return "" } }()
                let model = row[.skuId].string!.split(separator: ":")[1]
                for key in ["day|\(day)", "model|\(model)", "tag|\(team)", "sub|\(row[.subAccountId].string ?? "")"] { got[key, default: .zero] += cost }
            }
        }
        #expect(records == 2000 && rows > 100)
        #expect(got == expected)
        #expect(b.counts.rowsRead == b.counts.rowsOut)

        // The fast CSV encoder writes exactly the bytes of the row model, with a Pacific-month provider.
        var slow: [UInt8] = [], fast: [UInt8] = []
        try b.forEachRow(rateCardVersion: "p") { _, row in row.appendCSVLine(to: &slow) }
        try b.forEachCSVLine(rateCardVersion: "p") { _, lines, _ in fast += lines }
        #expect(fast.count > 10_000 && fast == slow)
        #expect(b.spilledCells == 0 && spilled.spilledCells > 2000)
        try spilled.spillRemaining()
        var fromDisk: [UInt8] = []
        try spilled.forEachCSVLine(rateCardVersion: "p") { _, lines, _ in fromDisk += lines }
        #expect(fromDisk == fast)
    }

    /// The same for rows with allowances, prompt tiers, names from accounts.csv and a billing offset.
    @Test func theCSVEncoderMatchesTheRowModelByteForByte() throws {
        var names = AccountNames()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckon-enc-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "provider,account_type,id,name\nanthropic,billing_account,acct,\"Acme, Inc.\"\nanthropic,sub_account,ws1,\"The \"\"one\"\"\"\n"
            .write(toFile: dir + "/accounts.csv", atomically: true, encoding: .utf8)
        names = try AccountNames.load(path: dir + "/accounts.csv")
        var b = EstimatedRowBuilder(rateCard: Self.card, accounts: names, period: nil,
                                    timeZones: BillingTimeZones(offsets: ["anthropic": -7 * 3600]))
        for (i, (model, meter, quantity, tier)) in [("claude-sonnet-4-5", "tokens_input", 250_000, "standard"),
                                                   ("claude-sonnet-4-5", "code_execution_hours", 1_600, "standard"),
                                                   ("claude-opus-4-5", "tokens_output", 1_000, "batch"),
                                                   ("claude-haiku-4-5", "web_search_requests", 3, "standard")].enumerated() {
            for day in ["2026-10-01T03:00:00Z", "2026-10-02T12:00:00Z", "2026-11-01T05:00:00Z"] {
                let t = Timestamp(rfc3339: day)!
                let r = UsageRecord(provider: "anthropic", billingAccountId: "acct", subAccountId: i % 2 == 0 ? "ws1" : nil, model: model,
                                    periodStart: t, periodEnd: t, serviceTier: tier, quantities: [(meter, ExactDecimal(quantity))],
                                    tags: i == 3 ? [] : [("team", "a\"b,c"), ("feature", "x")], source: SourcePosition(file: "gen", line: i))
                try b.add(r) { _ in Issue.record("unexpected unpriced usage") }
            }
        }
        var slow: [UInt8] = [], fast: [UInt8] = []
        var billed: [ExactDecimal] = []
        try b.forEachRow(rateCardVersion: "v") { _, row in row.appendCSVLine(to: &slow); billed.append(row[.billedCost].decimal!) }
        let totals = try b.forEachCSVLine(rateCardVersion: "v") { _, lines, _ in fast += lines }
        #expect(b.rowCount > 8 && fast == slow)
        // The charge totals are the rows' billed costs summed per period (one provider, account and currency here).
        #expect(totals.count == 2 && Set(totals.map(\.accountName)) == ["Acme, Inc."] && Set(totals.map(\.currency)) == ["USD"])
        #expect(totals.reduce(ExactDecimal.zero) { $0 + $1.billed } == billed.reduce(ExactDecimal.zero, +))
        #expect(String(decoding: fast, as: UTF8.self).contains("Included allowance"))
    }
}
