import ReckonCore

/// A canonical meter: what is counted, and how FOCUS names it.
public struct Meter: Sendable, Hashable {
    public let id: String
    /// FOCUS `SkuMeter`, e.g. `Cache Read Tokens`.
    public let displayName: String
    /// FOCUS `ConsumedUnit`, e.g. `Tokens`.
    public let consumedUnit: String
    /// A level read at instants (storage held), not a count of events: a month is charged on its
    /// peak reading, never on the sum of readings.
    public var isGauge = false

    public init(id: String, displayName: String, consumedUnit: String, isGauge: Bool = false) {
        self.id = id
        self.displayName = displayName
        self.consumedUnit = consumedUnit
        self.isGauge = isGauge
    }

    /// The meters Reckon knows, by id. Ids follow the providers' FinOps vocabulary.
    public static let catalog: [String: Meter] = {
        let all = [
            Meter(id: "tokens_input", displayName: "Input Tokens", consumedUnit: "Tokens"),
            Meter(id: "tokens_output", displayName: "Output Tokens", consumedUnit: "Tokens"),
            Meter(id: "tokens_cache_read", displayName: "Cache Read Tokens", consumedUnit: "Tokens"),
            Meter(id: "tokens_cache_write_5m", displayName: "Cache Write Tokens (5 minutes)", consumedUnit: "Tokens"),
            Meter(id: "tokens_cache_write_1h", displayName: "Cache Write Tokens (1 hour)", consumedUnit: "Tokens"),
            Meter(id: "web_search_requests", displayName: "Web Search Requests", consumedUnit: "Requests"),
            Meter(id: "code_execution_hours", displayName: "Code Execution Container Hours", consumedUnit: "Hours"),
            Meter(id: "managed_agent_session_runtime", displayName: "Agent Session Hours", consumedUnit: "Hours"),
            Meter(id: "requests", displayName: "Requests", consumedUnit: "Requests"),
            Meter(id: "logged_requests", displayName: "Logged Requests", consumedUnit: "Requests"),
            Meter(id: "eval_cell_executions", displayName: "Evaluation Cell Executions", consumedUnit: "Executions"),
            Meter(id: "dataset_storage", displayName: "Dataset Storage (monthly peak)", consumedUnit: "MB", isGauge: true),
            Meter(id: "subscription", displayName: "Plan Subscription", consumedUnit: "Months"),
            Meter(id: "seats", displayName: "Seats", consumedUnit: "Seat-Months"),
            Meter(id: "consumer_seats", displayName: "Seats", consumedUnit: "Seat-Months"),
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
    }()
}

/// One dated price: a row of a rate card.
public struct Rate: Sendable, Equatable {
    public var provider: String
    /// The canonical model id (aliases resolve to it).
    public var model: String
    public var aliases: [String]
    public var meter: String
    /// `standard`, `batch`, `flex`, `priority`, …: the pricing variant the rate applies to.
    public var serviceTier: String
    /// A long-context tier: the rate applies to every token of a request whose prompt (uncached
    /// input + cache reads + cache writes) is above the threshold; `nil` for the base rate.
    public var promptTier: PromptTier?
    /// FOCUS `PricingUnit`, e.g. `1000000 Tokens`.
    public var pricingUnit: String
    /// How many consumed units make one pricing unit (1000000 for `1000000 Tokens`): a power of ten,
    /// so that PricingQuantity = ConsumedQuantity / blockSize is exact.
    public var blockSize: ExactDecimal
    /// log10 of `blockSize`.
    public var blockSizeExponent: Int {
        var n = blockSize.normalized.significand, e = 0
        while n > 1 { n /= 10; e += 1 }
        return e
    }
    /// Price of one pricing unit.
    public var unitPrice: ExactDecimal
    public var currency: String
    /// First day the price applies (inclusive, UTC).
    public var effectiveFrom: CivilDate
    /// First day it no longer applies (exclusive), or open-ended.
    public var effectiveTo: CivilDate?
    /// Quantity included free each calendar month per billing account before the price applies
    /// (Anthropic's 1,550 free code-execution hours, a plan's included requests or users).
    public var includedPerMonth: ExactDecimal?
    /// Where the price was read, and when it was checked.
    public var source: String
    public var checkedOn: CivilDate?
    /// The file and line it came from.
    public var origin: SourcePosition

    /// FOCUS `SkuId`: `<provider>:<model>:<meter>`.
    public var skuId: String { "\(provider):\(model):\(meter)" }
    /// FOCUS `SkuPriceId`: identifies this dated rate.
    public var skuPriceId: String {
        "\(skuId):\(serviceTier)" + (promptTier.map { ":prompt\($0)" } ?? "") + ":\(effectiveFrom)"
    }

    public func applies(at t: Timestamp) -> Bool {
        let day = t.date
        return day >= effectiveFrom && (effectiveTo.map { day < $0 } ?? true)
    }
}

/// A long-context threshold: `>200000` (strictly above) or `>=200000` (the threshold included);
/// which one applies is the provider's rule, written on each tier row.
public struct PromptTier: Sendable, Hashable, CustomStringConvertible {
    public var threshold: ExactDecimal
    public var inclusive: Bool

    public init?(_ text: String) {
        let inclusive = text.hasPrefix(">=")
        guard text.hasPrefix(">"), let n = ExactDecimal(text.dropFirst(inclusive ? 2 : 1)), n.normalized.scale == 0, n > .zero else { return nil }
        threshold = n
        self.inclusive = inclusive
    }

    public func applies(toPrompt tokens: ExactDecimal) -> Bool { inclusive ? tokens >= threshold : tokens > threshold }

    public var description: String { (inclusive ? ">=" : ">") + String(threshold.normalized.significand) }
}

/// All rates loaded for a run, indexed for lookup, with the content hash of the files they
/// came from (the rate card version stamped on every priced row).
public struct RateCard: Sendable {
    public private(set) var rates: [Rate] = []
    /// SHA-256 over the card files' names and bytes, in path order (first 16 hex digits).
    public private(set) var version: String = ""
    private var index: [String: [Int]] = [:]       // "provider|model|meter|tier" -> rates
    private var aliases: [String: String] = [:]    // "provider|alias" -> model

    public init() {}

    static let header = ["provider", "model", "aliases", "meter", "service_tier", "prompt_tier", "unit", "unit_price",
                         "currency", "effective_from", "effective_to", "source", "checked_on", "included_per_month"]

    /// Loads every `.csv` rate card under `folder` (see `Samples/ratecards/README.md` for the format).
    /// - Throws: `ReckonError.badData` naming the file and line of a bad row, or both places of
    ///   two rates that overlap in time for the same provider, model, meter and tier.
    public static func load(folder: String) throws -> RateCard {
        var card = RateCard()
        var hasher = SHA256()
        let files = try FileSystem.files(under: folder).filter { $0.hasSuffix(".csv") }
        guard !files.isEmpty else {
            throw ReckonError(.missingInput, "no rate cards (*.csv) found", at: SourcePosition(file: folder))
        }
        for file in files {
            let bytes = try ByteStream.readAll(path: file)
            hasher.update(FileSystem.lastComponent(of: file).utf8)
            hasher.update([0])
            hasher.update(bytes)
            try card.add(file: file)
        }
        let digits = Array("0123456789abcdef".utf8)
        card.version = String(decoding: hasher.finalize().prefix(8).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] },
                              as: UTF8.self)
        try card.checkOverlaps()
        return card
    }

    mutating func add(file: String) throws {
        let reader = CSVReader(stream: try ByteStream(path: file), comment: UInt8(ascii: "#"))
        let record = CSVRecord()
        guard try reader.next(into: record) else {
            throw ReckonError(.badData, "empty rate card", at: SourcePosition(file: file))
        }
        let header = (0..<record.count).map { record.string($0) ?? "" }
        guard header == Self.header else {
            throw ReckonError(.badData, "rate card header must be: \(Self.header.joined(separator: ","))",
                              at: SourcePosition(file: file, line: record.line))
        }
        while try reader.next(into: record) {
            let at = SourcePosition(file: file, line: record.line)
            guard record.count == Self.header.count else {
                throw ReckonError(.badData, "expected \(Self.header.count) fields, found \(record.count)", at: at)
            }
            var f: [String] = []
            for k in 0..<record.count {
                guard let s = record.string(k) else { throw ReckonError(.badData, "field \(k + 1) is not valid UTF-8", at: at) }
                f.append(s.trimmed)
            }
            func need(_ k: Int) throws -> String {
                guard !f[k].isEmpty else { throw ReckonError(.badData, "\(Self.header[k]) is empty", at: at) }
                return f[k]
            }
            guard Meter.catalog[f[3]] != nil else {
                throw ReckonError(.badData, "unknown meter \"\(f[3])\"; known: \(Meter.catalog.keys.sorted().joined(separator: ", "))", at: at)
            }
            guard let (block, _) = Self.parseUnit(try need(6)) else {
                throw ReckonError(.badData, "unit must be \"[<power of ten>] <Unit>\", e.g. \"1000000 Tokens\": \"\(f[6])\"", at: at)
            }
            guard let price = ExactDecimal(try need(7)), !price.isNegative else {
                throw ReckonError(.badData, "unit_price is not a non-negative decimal: \"\(f[7])\"", at: at)
            }
            guard f[8].count == 3, f[8].uppercased() == f[8] else {
                throw ReckonError(.badData, "currency must be an ISO 4217 code such as USD: \"\(f[8])\"", at: at)
            }
            guard let from = CivilDate(try need(9)) else {
                throw ReckonError(.badData, "effective_from is not a date (YYYY-MM-DD): \"\(f[9])\"", at: at)
            }
            var to: CivilDate?
            if !f[10].isEmpty {
                guard let t = CivilDate(f[10]), from < t else {
                    throw ReckonError(.badData, "effective_to must be a date after effective_from: \"\(f[10])\"", at: at)
                }
                to = t
            }
            var included: ExactDecimal?
            if !f[13].isEmpty {
                guard let n = ExactDecimal(f[13]), !n.isNegative else {
                    throw ReckonError(.badData, "included_per_month must be a non-negative decimal: \"\(f[13])\"", at: at)
                }
                included = n
            }
            var promptTier: PromptTier?
            if !f[5].isEmpty {
                guard let t = PromptTier(f[5]) else {
                    throw ReckonError(.badData, "prompt_tier must be >N or >=N tokens, e.g. >200000: \"\(f[5])\"", at: at)
                }
                promptTier = t
            }
            let rate = Rate(provider: try need(0).lowercased(), model: try need(1),
                            aliases: f[2].split(separator: "|").map { String($0).trimmed }.filter { !$0.isEmpty },
                            meter: f[3], serviceTier: f[4].isEmpty ? "standard" : f[4].lowercased(), promptTier: promptTier,
                            pricingUnit: f[6], blockSize: block, unitPrice: price, currency: f[8],
                            effectiveFrom: from, effectiveTo: to, includedPerMonth: included, source: try need(11), checkedOn: CivilDate(f[12]),
                            origin: at)
            for alias in [rate.model] + rate.aliases {
                let key = rate.provider + "|" + alias.lowercased()
                if let existing = aliases[key], existing != rate.model {
                    throw ReckonError(.badData, "alias \"\(alias)\" already names model \"\(existing)\"", at: at)
                }
                aliases[key] = rate.model
            }
            index[Self.key(rate.provider, rate.model, rate.meter, rate.serviceTier), default: []].append(rates.count)
            rates.append(rate)
        }
    }

    /// `"1000000 Tokens"` → (1000000, "Tokens"); `"Requests"` → (1, "Requests").
    static func parseUnit(_ unit: String) -> (ExactDecimal, String)? {
        let parts = unit.split(separator: " ", maxSplits: 1)
        if parts.count == 2, let n = ExactDecimal(parts[0]) {
            // A power of ten (1, 10, 1000, 1000000 …), so that quantities divide exactly.
            let norm = n.normalized
            guard norm.scale == 0, String(norm.significand).allSatisfy({ $0 == "0" || $0 == "1" }),
                  String(norm.significand).filter({ $0 == "1" }).count == 1, String(norm.significand).first == "1" else { return nil }
            return (n, String(parts[1]))
        }
        guard let first = unit.unicodeScalars.first, first.properties.isAlphabetic else { return nil }
        return (1, unit)
    }

    static func key(_ p: String, _ m: String, _ meter: String, _ tier: String) -> String {
        p + "|" + m + "|" + meter + "|" + tier
    }

    func checkOverlaps() throws {
        for (_, ids) in index.sorted(by: { $0.key < $1.key }) {
            let byTier = Dictionary(grouping: ids.map { rates[$0] }, by: { $0.promptTier })
            for (_, group) in byTier.sorted(by: { ($0.key?.description ?? "") < ($1.key?.description ?? "") }) {
                try checkOverlaps(group)
            }
        }
    }

    func checkOverlaps(_ group: [Rate]) throws {
        do {
            let sorted = group.sorted { $0.effectiveFrom < $1.effectiveFrom }
            for (a, b) in zip(sorted, sorted.dropFirst()) where a.effectiveTo.map({ $0 > b.effectiveFrom }) ?? true {
                throw ReckonError(.badData,
                                  "two prices for \(a.skuId) (\(a.serviceTier)\(a.promptTier.map { ", prompt \($0)" } ?? "")) overlap: \(a.origin) from \(a.effectiveFrom) and \(b.origin) from \(b.effectiveFrom)",
                                  at: b.origin)
            }
        }
    }

    /// The canonical model id for a model name as a provider reported it (dated ids and aliases).
    public func canonicalModel(provider: String, model: String) -> String? {
        aliases[provider + "|" + model.lowercased()]
    }

    /// How a request's prompt size is known: counted (a single request), only as the provider's
    /// long-context flag (an aggregated bucket), or not at all.
    public enum PromptSize: Sendable {
        case tokens(ExactDecimal)
        case longContext(Bool)
    }

    /// The rate for a meter at an instant, or `nil` (the usage is then unpriced, never $0).
    ///
    /// Long-context tiers: when the prompt is above a tier's threshold, the tier's rate applies to
    /// every token meter of the request (the highest tier that applies wins); a bucket flagged
    /// long-context by the provider takes the lowest tier. Meters without tier rows keep their base rate.
    public func rate(provider: String, model: String, meter: String, serviceTier: String, at t: Timestamp,
                     prompt: PromptSize = .longContext(false)) -> Rate? {
        rateIndex(provider: provider, model: model, meter: meter, serviceTier: serviceTier, at: t, prompt: prompt).map { rates[$0] }
    }

    /// The position in `rates` of the rate `rate(…)` returns.
    public func rateIndex(provider: String, model: String, meter: String, serviceTier: String, at t: Timestamp,
                          prompt: PromptSize = .longContext(false)) -> Int? {
        guard let canonical = canonicalModel(provider: provider, model: model) else { return nil }
        var base: Int?
        var tier: Int?
        for i in index[Self.key(provider, canonical, meter, serviceTier)] ?? [] where rates[i].applies(at: t) {
            let r = rates[i]
            guard let pt = r.promptTier else { base = i; continue }
            let applies: Bool
            switch prompt {
            case .tokens(let n): applies = pt.applies(toPrompt: n)
            case .longContext(let long): applies = long
            }
            guard applies else { continue }
            switch prompt {
            case .tokens: if tier.map({ rates[$0].promptTier!.threshold < pt.threshold }) ?? true { tier = i }
            case .longContext: if tier.map({ rates[$0].promptTier!.threshold > pt.threshold }) ?? true { tier = i }
            }
        }
        return tier ?? base
    }
}
