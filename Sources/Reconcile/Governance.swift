import ReckonCore
import ReckonFocus

/// Budgets and model policies, checked against the estimate of a billing period.
///
/// - `budgets.csv`: `scope,value,monthly_budget,currency,warn_at,breach_at` — scope is a tag key
///   (`team`, `project`, `feature`, …) or `sub_account`; `warn_at` / `breach_at` are shares of the
///   budget (default 0.8 and 1.0).
/// - `policies.csv`: `team,rule,model` — rule `allow` (the team may use only the models listed for
///   it) or `deny`; `model` is a model id, or a prefix ending in `*` (`gpt-4o*`).
///
/// The month-end forecast is the run-rate: spend ÷ days with data so far × days in the month,
/// where "days so far" ends at the latest charge day in the estimate (not the wall clock), so
/// reruns give the same numbers. A batch job audits; it does not block.
public struct Governance: Sendable {
    public struct Budget: Sendable {
        public var scope: String, value: String, amount: ExactDecimal, currency: String
        public var warnAt: ExactDecimal, breachAt: ExactDecimal
    }

    public struct Policy: Sendable {
        public var team: String, allow: Bool, model: String
        func matches(_ m: String) -> Bool { model.hasSuffix("*") ? m.hasPrefix(String(model.dropLast())) : m == model }
    }

    public var budgets: [Budget] = []
    public var policies: [Policy] = []

    public init() {}

    public static func load(input: String) throws -> Governance {
        var g = Governance()
        let budgets = input + "/budgets.csv", policies = input + "/policies.csv"
        do {
            for (line, f) in try ConfigFile.rows(budgets, header: ["scope", "value", "monthly_budget", "currency", "warn_at", "breach_at"]) {
                guard let amount = ExactDecimal(f[2]), amount > .zero, !f[0].isEmpty, !f[1].isEmpty, f[3].count == 3 else {
                    throw ReckonError(.badData, "expected scope,value,monthly_budget (positive),currency,warn_at,breach_at",
                                      at: SourcePosition(file: budgets, line: line))
                }
                g.budgets.append(Budget(scope: f[0], value: f[1], amount: amount, currency: f[3],
                                        warnAt: ExactDecimal(f[4]) ?? "0.8", breachAt: ExactDecimal(f[5]) ?? 1))
            }
        }
        do {
            for (line, f) in try ConfigFile.rows(policies, header: ["team", "rule", "model"]) {
                guard f[1] == "allow" || f[1] == "deny", !f[0].isEmpty, !f[2].isEmpty else {
                    throw ReckonError(.badData, "expected team,rule (allow or deny),model", at: SourcePosition(file: policies, line: line))
                }
                g.policies.append(Policy(team: f[0], allow: f[1] == "allow", model: f[2]))
            }
        }
        return g
    }

    public var isEmpty: Bool { budgets.isEmpty && policies.isEmpty }

    /// What the governance checks need of one estimated row (passed to `UsageTally.add`).
    public struct Usage: Sendable {
        var tags: [(key: String, value: JSONValue)]
        var subAccount: String?
        var model: String
        /// The canonical meter (`tokens_input`, …) from the SkuId.
        var meter: Substring
        var category: String
        var quantity: ExactDecimal?
        var cost: ExactDecimal
        var start: Timestamp
        var end: Timestamp

        func tag(_ key: String) -> String? { tags.first { $0.key == key }?.value.string }
    }

    /// The estimate's own charges (Usage and Purchase rows, not corrections of closed periods, not
    /// the tax, credit and rounding the invoice adds); `nil` for any other row.
    public static func usage(of row: FocusRow) -> Usage? {
        guard let cost = row[.billedCost].decimal, case .dateTime(let start) = row[.chargePeriodStart],
              case .dateTime(let end) = row[.chargePeriodEnd], let category = row[.chargeCategory].string,
              category == "Usage" || category == "Purchase", row[.chargeClass] == .null else { return nil }
        var tags: [(key: String, value: JSONValue)] = []
        if case .json(let m) = row[.tags] { tags = m }
        // SkuId is provider:model:meter[:…]: the model is the second part (the whole id when it has
        // no colon), the meter the third. Split on UTF-8 bytes (Character iteration cost ~130
        // instructions a character here).
        let sku = row[.skuId].string ?? ""
        let u8 = sku.utf8
        var model = sku[...], meter: Substring = ""
        if let c1 = u8.firstIndex(of: 0x3A) {
            let from = u8.index(after: c1)
            if let c2 = u8[from...].firstIndex(of: 0x3A) {
                model = sku[from..<c2]
                let m = u8.index(after: c2)
                meter = sku[m..<(u8[m...].firstIndex(of: 0x3A) ?? u8.endIndex)]
            } else {
                model = sku[from...]
            }
        }
        return Usage(tags: tags, subAccount: row[.subAccountId].string, model: String(model),
                     meter: meter, category: category, quantity: row[.consumedQuantity].decimal,
                     cost: cost, start: start, end: end)
    }

    /// A period's estimated usage, summed as the rows stream by — what budgets, policies and the
    /// anomaly checks need, and nothing per row.
    /// - Memory: O(budgets + policy teams × models + watched tag values × days × models).
    public struct UsageTally: Sendable {
        let governance: Governance
        let tagKeys: [String]
        let policyTeams: Set<String>
        /// The latest charge-period end seen.
        var lastEnd: Timestamp?
        /// Per budget (by index): spend.
        var budgetSpend: [ExactDecimal]
        /// Team → model → cost, first and last time seen (teams with a policy only).
        var teamModels: [String: [String: (cost: ExactDecimal, first: Timestamp, last: Timestamp)]] = [:]
        /// The anomaly checks' sums, each under one flat key (one hash a row where nested
        /// dictionaries took one per level); `key` is the tag key's index in `tagKeys`.
        struct TagDay: Hashable { var key: Int, value: String, day: Int }
        struct TagDayModel: Hashable { var key: Int, value: String, day: Int, model: String }
        struct TagModel: Hashable { var key: Int, value: String, model: String }
        var spendByDay: [TagDay: ExactDecimal] = [:]
        var tokensByDay: [TagDayModel: ExactDecimal] = [:]
        var inputByModel: [TagModel: (cost: ExactDecimal, quantity: ExactDecimal)] = [:]

        /// Tag key → value → UTC day → Usage cost. O(entries) a call.
        var daySpend: [String: [String: [Int: ExactDecimal]]] {
            var out: [String: [String: [Int: ExactDecimal]]] = [:]
            for (k, v) in spendByDay { out[tagKeys[k.key], default: [:]][k.value, default: [:]][k.day] = v }
            return out
        }
        /// Tag key → value → day → model → input tokens. O(entries) a call.
        var dayTokens: [String: [String: [Int: [String: ExactDecimal]]]] {
            var out: [String: [String: [Int: [String: ExactDecimal]]]] = [:]
            for (k, v) in tokensByDay { out[tagKeys[k.key], default: [:]][k.value, default: [:]][k.day, default: [:]][k.model] = v }
            return out
        }
        /// Tag key → value → model → input-token cost and quantity. O(entries) a call.
        var inputCost: [String: [String: [String: (cost: ExactDecimal, quantity: ExactDecimal)]]] {
            var out: [String: [String: [String: (cost: ExactDecimal, quantity: ExactDecimal)]]] = [:]
            for (k, v) in inputByModel { out[tagKeys[k.key], default: [:]][k.value, default: [:]][k.model] = v }
            return out
        }

        public init(governance: Governance, anomalies: Anomalies) {
            self.governance = governance
            tagKeys = anomalies.tagKeys
            policyTeams = Set(governance.policies.map(\.team))
            budgetSpend = Array(repeating: .zero, count: governance.budgets.count)
        }

        @inline(__always)
        private static func add(_ c: inout (cost: ExactDecimal, quantity: ExactDecimal), cost: ExactDecimal, quantity: ExactDecimal) {
            c.cost += cost
            c.quantity += quantity
        }

        public mutating func add(_ row: FocusRow) {
            guard let u = Governance.usage(of: row) else { return }
            lastEnd = max(lastEnd ?? u.end, u.end)
            for (k, b) in governance.budgets.enumerated() where (b.scope == "sub_account" ? u.subAccount : u.tag(b.scope)) == b.value {
                budgetSpend[k] += u.cost
            }
            if !policyTeams.isEmpty, let team = u.tag("team"), policyTeams.contains(team) {
                var v = teamModels[team, default: [:]][u.model] ?? (.zero, u.start, u.end)
                v.cost += u.cost
                v.first = min(v.first, u.start)
                v.last = max(v.last, u.end)
                teamModels[team, default: [:]][u.model] = v
            }
            guard u.category == "Usage" else { return }
            let day = u.start.date.daysSinceEpoch
            for (k, key) in tagKeys.enumerated() {
                guard let value = u.tag(key) else { continue }
                spendByDay[TagDay(key: k, value: value, day: day), default: .zero] += u.cost
                if u.meter == "tokens_input", let q = u.quantity, !q.isZero {
                    tokensByDay[TagDayModel(key: k, value: value, day: day, model: u.model), default: .zero] += q
                    Self.add(&inputByModel[TagModel(key: k, value: value, model: u.model), default: (.zero, .zero)], cost: u.cost, quantity: q)
                }
            }
        }
    }

    /// Budget status and policy violations for a period, and the alert records they raise.
    public func evaluate(_ tally: UsageTally, period: BillingPeriod) -> (budgets: [JSONValue], violations: [JSONValue], alerts: [JSONValue]) {
        var budgetsOut: [JSONValue] = [], violations: [JSONValue] = [], alerts: [JSONValue] = []
        let daysInMonth = ExactDecimal(period.next.firstDay.daysSinceEpoch - period.firstDay.daysSinceEpoch)
        let lastDay = tally.lastEnd.map { min($0, period.end) } ?? period.start
        let daysSoFar = max(1, Int((lastDay.secondsSinceEpoch - period.start.secondsSinceEpoch + 86_399) / 86_400))
        for (k, b) in budgets.enumerated() {
            let spend = tally.budgetSpend[k]
            let forecast = (spend * daysInMonth).divided(by: ExactDecimal(daysSoFar), scale: 2, .halfAwayFromZero)!
            let share = spend.divided(by: b.amount, scale: 4, .halfAwayFromZero)!
            let status = share >= b.breachAt ? "breach" : share >= b.warnAt ? "warning"
                : forecast >= b.amount * b.breachAt ? "forecast_breach" : "ok"
            let record: JSONValue = .object([
                ("scope", .string(b.scope)), ("value", .string(b.value)), ("budget", .string(b.amount.description)),
                ("currency", .string(b.currency)), ("spend", .string(spend.description)), ("share", .string(share.description)),
                ("forecast", .string(forecast.description)), ("days_so_far", .number(String(daysSoFar))), ("status", .string(status)),
            ])
            budgetsOut.append(record)
            if status != "ok" {
                alerts.append(.object([("kind", .string("budget_" + status)), ("billing_period", .string(period.description)), ("budget", record)]))
            }
        }
        // Policies: per team, the models it used outside its allow list or inside its deny list.
        let teams = Set(policies.map(\.team)).sorted()
        for team in teams {
            let rules = policies.filter { $0.team == team }
            let allows = rules.filter(\.allow), denies = rules.filter { !$0.allow }
            var byModel: [String: (cost: ExactDecimal, first: Timestamp, last: Timestamp, rule: String)] = [:]
            for (model, used) in tally.teamModels[team] ?? [:] {
                let denied = denies.contains { $0.matches(model) }
                let notAllowed = !allows.isEmpty && !allows.contains { $0.matches(model) }
                guard denied || notAllowed else { continue }
                byModel[model] = (used.cost, used.first, used.last, denied ? "deny" : "allow")
            }
            for (model, v) in byModel.sorted(by: { $0.key < $1.key }) {
                let record: JSONValue = .object([
                    ("team", .string(team)), ("model", .string(model)), ("cost", .string(v.cost.description)),
                    ("rule", .string(v.rule == "deny" ? "denied model" : "model not on the team's allow list")),
                    ("first_seen", .string(v.first.description)), ("last_seen", .string(v.last.description)),
                ])
                violations.append(record)
                alerts.append(.object([("kind", .string("policy_violation")), ("billing_period", .string(period.description)), ("violation", record)]))
            }
        }
        return (budgetsOut, violations, alerts)
    }
}
