import ReckonCore

/// The next morning's flags for the run-away incidents AI spend is known for, each with its evidence:
///
/// - **spike** — a tag value's daily spend against the mean of its trailing days: spend ≥
///   `spike_factor` × baseline and at least `spike_min_increase` above it;
/// - **model_upgrade** — a tag value's input tokens moving to a pricier model: the day's main model
///   (most input tokens, at least `upgrade_min_share` of them) is not the baseline's main model and
///   costs at least `upgrade_price_factor` × as much per input token (reported on the first day);
/// - **runaway_loop** — a request-count spike with flat distinct users: requests ≥ `loop_factor` ×
///   baseline and ≥ `loop_min_requests`, while distinct `user` tag values stay ≤
///   `loop_max_user_growth` × their baseline (only for request-level exports whose records carry a
///   `user` tag; daily buckets have no request count).
///
/// The baseline of a day is the days of the same billing period in the `baseline_days` before it,
/// from the first day the tag value was seen; a day needs `min_baseline_days` of them. Days
/// without usage count as zero. Settings come from the optional `anomalies.csv` (`setting,value`);
/// `tag_keys` lists the tag keys watched, separated by spaces (default `team feature`).
/// Ratios are rounded to 2 decimals and baselines to 6, ties to even (report figures only).
/// Memory: O(tag values × days × models).
public struct Anomalies: Sendable {
    public var tagKeys = ["team", "feature"]
    public var baselineDays = 7
    public var minBaselineDays = 3
    public var spikeFactor: ExactDecimal = 3
    public var spikeMinIncrease: ExactDecimal = 10
    public var upgradePriceFactor: ExactDecimal = 2
    public var upgradeMinShare: ExactDecimal = "0.5"
    public var loopFactor: ExactDecimal = 5
    public var loopMinRequests = 100
    public var loopMaxUserGrowth: ExactDecimal = "1.2"

    public init() {}

    public static func load(input: String) throws -> Anomalies {
        var a = Anomalies()
        let path = input + "/anomalies.csv"
        for (line, f) in try ConfigFile.rows(path, header: ["setting", "value"]) {
            let at = SourcePosition(file: path, line: line)
            func decimal() throws -> ExactDecimal {
                guard let d = ExactDecimal(f[1]), d > .zero else { throw ReckonError(.badData, "\(f[0]) must be a positive decimal", at: at) }
                return d
            }
            func count() throws -> Int {
                guard let n = Int(f[1]), n > 0 else { throw ReckonError(.badData, "\(f[0]) must be a positive whole number", at: at) }
                return n
            }
            switch f[0] {
            case "tag_keys": a.tagKeys = f[1].split(separator: " ").map(String.init)
            case "baseline_days": a.baselineDays = try count()
            case "min_baseline_days": a.minBaselineDays = try count()
            case "spike_factor": a.spikeFactor = try decimal()
            case "spike_min_increase": a.spikeMinIncrease = try decimal()
            case "upgrade_price_factor": a.upgradePriceFactor = try decimal()
            case "upgrade_min_share": a.upgradeMinShare = try decimal()
            case "loop_factor": a.loopFactor = try decimal()
            case "loop_min_requests": a.loopMinRequests = try count()
            case "loop_max_user_growth": a.loopMaxUserGrowth = try decimal()
            default: throw ReckonError(.badData, "unknown setting \"\(f[0])\"", at: at)
            }
        }
        return a
    }

    /// One day's requests for one account and tag set (from transform's activity file).
    public struct Activity: Sendable {
        public var day: CivilDate
        public var tags: [String: String]
        public var requests: Int
    }

    static func ratio(_ a: ExactDecimal, _ b: ExactDecimal) -> JSONValue {
        b.isZero ? .null : .string(a.divided(by: b, scale: 2, .halfEven)!.description)
    }

    /// The anomalies of one billing period, sorted by day, kind, tag and value.
    public func detect(_ tally: Governance.UsageTally, activity: [Activity], period: BillingPeriod) -> [JSONValue] {
        var found: [(day: CivilDate, kind: String, key: String, value: String, record: JSONValue)] = []
        for key in tagKeys {
            // Per tag value: spend per day; input tokens per day × model; input cost per model.
            let spend = tally.daySpend[key] ?? [:]
            let tokens = tally.dayTokens[key] ?? [:]
            let inputCost = tally.inputCost[key] ?? [:]
            for (value, series) in spend {
                guard let first = series.keys.min(), let last = series.keys.max() else { continue }
                for d in first...last {
                    let window = max(first, d - baselineDays)..<d
                    guard window.count >= minBaselineDays else { continue }
                    let today = series[d] ?? .zero
                    let baseline = window.map { series[$0] ?? .zero }.sum().divided(by: ExactDecimal(window.count), scale: 6, .halfEven)!
                    guard today >= spikeFactor * baseline, today - baseline >= spikeMinIncrease else { continue }
                    found.append((CivilDate(daysSinceEpoch: d), "spike", key, value, .object([
                        ("kind", .string("spike")), ("tag", .string(key)), ("value", .string(value)),
                        ("day", .string(CivilDate(daysSinceEpoch: d).description)), ("spend", .string(today.description)),
                        ("baseline", .string(baseline.description)), ("ratio", Self.ratio(today, baseline)),
                        ("baseline_from", .string(CivilDate(daysSinceEpoch: window.lowerBound).description)),
                        ("baseline_through", .string(CivilDate(daysSinceEpoch: d - 1).description)),
                    ])))
                }
            }
            for (value, byDay) in tokens {
                let prices = (inputCost[value] ?? [:]).compactMapValues { c in c.cost.divided(by: c.quantity, scale: 18, .halfEven) }
                func main(_ models: [String: ExactDecimal]) -> (String, ExactDecimal)? {
                    models.max { ($0.value, $1.key) < ($1.value, $0.key) }.map { ($0.key, $0.value) }
                }
                guard let first = byDay.keys.min(), let last = byDay.keys.max() else { continue }
                var previousMain: String?
                for d in first...last {
                    defer { previousMain = byDay[d].flatMap(main)?.0 ?? previousMain }
                    let window = max(first, d - baselineDays)..<d
                    guard window.count >= minBaselineDays, let todayModels = byDay[d], let (model, n) = main(todayModels) else { continue }
                    var before: [String: ExactDecimal] = [:]
                    for w in window { for (m, q) in byDay[w] ?? [:] { before[m, default: .zero] += q } }
                    guard let (was, _) = main(before), was != model, previousMain != model,
                          let newPrice = prices[model], let oldPrice = prices[was], !oldPrice.isZero,
                          newPrice >= upgradePriceFactor * oldPrice else { continue }
                    let share = n.divided(by: todayModels.values.sum(), scale: 4, .halfEven)!
                    guard share >= upgradeMinShare else { continue }
                    let perMillion = { (p: ExactDecimal) in (p * 1_000_000).rounded(scale: 6, .halfEven).description }
                    found.append((CivilDate(daysSinceEpoch: d), "model_upgrade", key, value, .object([
                        ("kind", .string("model_upgrade")), ("tag", .string(key)), ("value", .string(value)),
                        ("day", .string(CivilDate(daysSinceEpoch: d).description)), ("from_model", .string(was)), ("to_model", .string(model)),
                        ("from_input_price_per_million", .string(perMillion(oldPrice))), ("to_input_price_per_million", .string(perMillion(newPrice))),
                        ("price_ratio", Self.ratio(newPrice, oldPrice)), ("share_of_input_tokens", .string(share.description)),
                    ])))
                }
            }
            // Runaway loops: requests and distinct users per day, from single-request records with a user tag.
            var requests: [String: [Int: Int]] = [:]
            var users: [String: [Int: Set<String>]] = [:]
            var topUser: [String: [Int: [String: Int]]] = [:]
            for a in activity {
                guard let v = a.tags[key], let user = a.tags["user"] else { continue }
                let d = a.day.daysSinceEpoch
                requests[v, default: [:]][d, default: 0] += a.requests
                users[v, default: [:]][d, default: []].insert(user)
                topUser[v, default: [:]][d, default: [:]][user, default: 0] += a.requests
            }
            for (value, series) in requests {
                guard let first = series.keys.min(), let last = series.keys.max() else { continue }
                for d in first...last {
                    let window = max(first, d - baselineDays)..<d
                    guard window.count >= minBaselineDays else { continue }
                    let today = series[d] ?? 0
                    let baseline = ExactDecimal(window.map { series[$0] ?? 0 }.reduce(0, +)).divided(by: ExactDecimal(window.count), scale: 6, .halfEven)!
                    let todayUsers = users[value]?[d]?.count ?? 0
                    let baselineUsers = ExactDecimal(window.map { users[value]?[$0]?.count ?? 0 }.reduce(0, +))
                        .divided(by: ExactDecimal(window.count), scale: 6, .halfEven)!
                    guard today >= loopMinRequests, ExactDecimal(today) >= loopFactor * baseline,
                          ExactDecimal(todayUsers) <= loopMaxUserGrowth * baselineUsers else { continue }
                    let top = (topUser[value]?[d] ?? [:]).max { ($0.value, $1.key) < ($1.value, $0.key) }
                    found.append((CivilDate(daysSinceEpoch: d), "runaway_loop", key, value, .object([
                        ("kind", .string("runaway_loop")), ("tag", .string(key)), ("value", .string(value)),
                        ("day", .string(CivilDate(daysSinceEpoch: d).description)), ("requests", .number(String(today))),
                        ("baseline_requests", .string(baseline.description)), ("ratio", Self.ratio(ExactDecimal(today), baseline)),
                        ("distinct_users", .number(String(todayUsers))), ("baseline_distinct_users", .string(baselineUsers.description)),
                        ("top_user", .optional(top?.key)), ("top_user_requests", top.map { .number(String($0.value)) } ?? .null),
                    ])))
                }
            }
        }
        return found.sorted { ($0.day, $0.kind, $0.key, $0.value) < ($1.day, $1.kind, $1.key, $1.value) }.map(\.record)
    }
}
