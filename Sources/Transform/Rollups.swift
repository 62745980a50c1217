import ReckonCore

/// Cost rolled up from the request to the workspace — span → execution (trace) → agent →
/// workspace — and unit economics per tag value (cost per request and per execution).
///
/// Costs are exact sums of the priced records (estimate side); ratios are rounded to 6 decimals,
/// ties to even (written down here, as every rounding is). Allowances are not applied per request:
/// a record's cost is its usage × its rate.
/// - Memory: one entry per distinct span, execution, agent, workspace and tag value.
public struct Rollups: Sendable {
    struct Totals: Sendable {
        var cost: ExactDecimal = .zero
        var requests = 0
        var executions = Set<Int32>()
        var spans = Set<Int32>()
        /// The parent span named by the records (-1: none); records that name another one add it
        /// to `otherParents`. The table shows the one whose id sorts first by text (`parent(names:)`),
        /// so the result does not depend on the order records are read in (threads, shards).
        var parent: Int32 = -1
        var otherParents: [Int32] = []

        mutating func noteParent(_ p: Int32) {
            guard p >= 0, p != parent else { return }
            if parent < 0 { parent = p } else if !otherParents.contains(p) { otherParents.append(p) }
        }

        /// The parent span shown: of those named, the one whose id sorts first by text.
        func parent(names: (Int32) -> String) -> Int32 {
            otherParents.reduce(parent) { best, p in names(p) < names(best) ? p : best }
        }

        mutating func merge(_ o: Totals, translate t: (Int32) -> Int32) {
            cost += o.cost
            requests += o.requests
            for e in o.executions { executions.insert(t(e)) }
            for s in o.spans { spans.insert(t(s)) }
            if o.parent >= 0 { noteParent(t(o.parent)) }
            for p in o.otherParents { noteParent(t(p)) }
        }

        /// Adds one record in place (a copy out of the dictionary and back would copy the sets).
        mutating func add(cost: ExactDecimal, _ ids: EstimatedRowBuilder.RecordIds) {
            self.cost += cost
            requests += 1
            if ids.execution >= 0 { executions.insert(ids.execution) }
            if ids.span >= 0 { spans.insert(ids.span) }
            noteParent(ids.parentSpan)
        }
    }

    /// Up to six interned ids (unused places are -2): a key without an array allocation per record.
    struct Key: Hashable, Sendable, MixHashable {
        var ids: (Int32, Int32, Int32, Int32, Int32, Int32)

        init(_ a: Int32, _ b: Int32, _ c: Int32, _ d: Int32 = -2, _ e: Int32 = -2, _ f: Int32 = -2) { ids = (a, b, c, d, e, f) }

        subscript(i: Int) -> Int32 {
            switch i {
            case 0: return ids.0
            case 1: return ids.1
            case 2: return ids.2
            case 3: return ids.3
            case 4: return ids.4
            default: return ids.5
            }
        }

        static func == (x: Key, y: Key) -> Bool { x.ids == y.ids }

        var mixed: UInt64 {
            let lo = UInt64(UInt32(bitPattern: ids.0)) << 32 | UInt64(UInt32(bitPattern: ids.1))
            let mid = UInt64(UInt32(bitPattern: ids.2)) << 32 | UInt64(UInt32(bitPattern: ids.3))
            let hi = UInt64(UInt32(bitPattern: ids.4)) << 32 | UInt64(UInt32(bitPattern: ids.5))
            var h = (lo &* 0x9E37_79B9_7F4A_7C15) ^ (mid &* 0xFF51_AFD7_ED55_8CCD) ^ (hi &* 0xC4CE_B9FE_1A85_EC53)
            h ^= h >> 29
            return h &* 0x9E37_79B9_7F4A_7C15
        }

        func hash(into hasher: inout Hasher) { hasher.combine(mixed) }
    }

    /// (period, account, workspace, agent, execution, span) → totals, and coarser levels.
    private var spans = MixTable<Key, Totals>()
    private var executions = MixTable<Key, Totals>()
    private var agents = MixTable<Key, Totals>()
    private var workspaces = MixTable<Key, Totals>()
    private var tagValues = MixTable<Key, Totals>()   // (period, account, tag set id)
    /// (period, UTC day number, account, tag set id) → single requests: the evidence for runaway
    /// loops (a request spike with flat distinct users). Buckets of many requests are not counted.
    private var daily = MixTable<Key, Int>()
    private var periods: [Int32: BillingPeriod] = [:]
    /// The period `add` recorded last (records come mostly from one period).
    private var lastPeriod: Int32 = -1

    public init() {}

    mutating func add(ids: EstimatedRowBuilder.RecordIds, period: BillingPeriod, cost: ExactDecimal, requestDay: Int32?) {
        let p = Int32(period.year * 100 + period.month)
        if p != lastPeriod {
            periods[p] = period
            lastPeriod = p
        }
        if let requestDay { daily[Key(p, requestDay, ids.account, ids.tags), default: 0] += 1 }
        workspaces[Key(p, ids.account, ids.sub), default: Totals()].add(cost: cost, ids)
        if ids.agent >= 0 || ids.execution >= 0 { agents[Key(p, ids.account, ids.sub, ids.agent), default: Totals()].add(cost: cost, ids) }
        if ids.execution >= 0 { executions[Key(p, ids.account, ids.sub, ids.agent, ids.execution), default: Totals()].add(cost: cost, ids) }
        if ids.span >= 0 { spans[Key(p, ids.account, ids.sub, ids.agent, ids.execution, ids.span), default: Totals()].add(cost: cost, ids) }
        tagValues[Key(p, ids.account, ids.tags), default: Totals()].add(cost: cost, ids)
    }

    /// Requests per UTC day, billing account and tag set in `period`, as JSON lines
    /// `{"day","billing_account","tags":{…},"requests"}`, sorted. Memory: one entry per distinct
    /// (day, account, tag set).
    public func activity(for period: BillingPeriod, names: (Int32) -> String, tags: (Int32) -> [(key: String, value: String)]) -> [JSONValue] {
        let p = Int32(period.year * 100 + period.month)
        return daily.filter { $0.key[0] == p }.map { key, n -> (String, String, String, JSONValue) in
            let day = CivilDate(daysSinceEpoch: Int(key[1])).description
            let t = key[3] >= 0 ? tags(key[3]) : []
            let tagsJSON = JSONValue.object(t.map { ($0.key, .string($0.value)) })
            return (day, names(key[2]), JSONWriter.write(tagsJSON), .object([
                ("day", .string(day)), ("billing_account", .string(names(key[2]))), ("tags", tagsJSON), ("requests", .number(String(n))),
            ]))
        }.sorted { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }.map(\.3)
    }

    /// The rollup tables of one billing period: name → (header, rows), rows sorted.
    public func tables(for period: BillingPeriod, names: (Int32) -> String,
                       tags: (Int32) -> [(key: String, value: String)]) -> [(name: String, header: [String], rows: [[String?]])] {
        let p = Int32(period.year * 100 + period.month)
        func ratio(_ cost: ExactDecimal, _ n: Int) -> String? {
            n == 0 ? nil : cost.divided(by: ExactDecimal(n), scale: 6, .halfEven)!.description
        }
        func rows(_ map: MixTable<Key, Totals>, _ make: (Key, Totals) -> [String?]) -> [[String?]] {
            map.filter { $0.key[0] == p }.map { make($0.key, $0.value) }
                .sorted { $0.map { $0 ?? "" }.lexicographicallyPrecedes($1.map { $0 ?? "" }) }
        }
        func opt(_ i: Int32) -> String? { i < 0 || names(i).isEmpty ? nil : names(i) }
        var out: [(String, [String], [[String?]])] = []
        out.append(("spans", ["billing_account", "sub_account", "agent", "execution_id", "span_id", "parent_span_id", "cost", "requests"],
                    rows(spans) { k, t in [names(k[1]), opt(k[2]), opt(k[3]), opt(k[4]), names(k[5]), opt(t.parent(names: names)), t.cost.description, String(t.requests)] }))
        out.append(("executions", ["billing_account", "sub_account", "agent", "execution_id", "cost", "spans", "requests", "cost_per_request"],
                    rows(executions) { k, t in [names(k[1]), opt(k[2]), opt(k[3]), names(k[4]), t.cost.description, String(t.spans.count),
                                                String(t.requests), ratio(t.cost, t.requests)] }))
        out.append(("agents", ["billing_account", "sub_account", "agent", "cost", "executions", "requests", "cost_per_execution", "cost_per_request"],
                    rows(agents) { k, t in [names(k[1]), opt(k[2]), opt(k[3]), t.cost.description, String(t.executions.count),
                                            String(t.requests), ratio(t.cost, t.executions.count), ratio(t.cost, t.requests)] }))
        out.append(("workspaces", ["billing_account", "sub_account", "cost", "executions", "requests", "cost_per_request"],
                    rows(workspaces) { k, t in [names(k[1]), opt(k[2]), t.cost.description, String(t.executions.count), String(t.requests),
                                                ratio(t.cost, t.requests)] }))
        // One row per tag key and value: a record with tags {team: a, feature: b} counts for both.
        var perTag: [[String]: Totals] = [:]
        for (k, t) in tagValues where k[0] == p {
            let set = k[2] < 0 ? [(key: "(untagged)", value: "")] : tags(k[2])
            for tag in set {
                var a = perTag[[names(k[1]), tag.key, tag.value]] ?? Totals()
                a.cost += t.cost
                a.requests += t.requests
                a.executions.formUnion(t.executions)
                perTag[[names(k[1]), tag.key, tag.value]] = a
            }
        }
        let tagRows: [[String?]] = perTag.map { k, t in
            [k[0], k[1], k[2].isEmpty ? nil : k[2], t.cost.description, String(t.requests), String(t.executions.count),
             ratio(t.cost, t.requests), ratio(t.cost, t.executions.count)]
        }.sorted { $0.map { $0 ?? "" }.lexicographicallyPrecedes($1.map { $0 ?? "" }) }
        out.append(("tags", ["billing_account", "tag", "value", "cost", "requests", "executions", "cost_per_request", "cost_per_execution"], tagRows))
        return out
    }

    public var isEmpty: Bool { workspaces.isEmpty }

    /// The rollups as JSON values for a shard's partial result: key places that hold ids are written
    /// as names (`name`), the others (period, day, absent = negative) as numbers.
    func forEachPartialValue(name: (Int32) -> JSONValue, _ body: (JSONValue) throws -> Void) rethrows {
        func key(_ k: Key, _ places: Set<Int>) -> JSONValue {
            .array((0..<6).map { places.contains($0) && k[$0] >= 0 ? name(k[$0]) : .number(String(k[$0])) })
        }
        func ids(_ set: Set<Int32>) -> JSONValue { .array(set.map { name($0) }) }
        for (label, map, places) in [("workspaces", workspaces, Set([1, 2])), ("agents", agents, [1, 2, 3]),
                                     ("executions", executions, [1, 2, 3, 4]), ("spans", spans, [1, 2, 3, 4, 5]),
                                     ("tags", tagValues, [1, 2])] {
            for (k, t) in map {
                try body(.object([("rollup", .string(label)), ("k", key(k, places)), ("cost", .decimal(t.cost)),
                                  ("requests", .number(String(t.requests))), ("executions", ids(t.executions)),
                                  ("spans", ids(t.spans)), ("parent", t.parent >= 0 ? name(t.parent) : .number(String(t.parent))),
                                  ("other_parents", .array(t.otherParents.map(name)))]))
            }
        }
        for (k, n) in daily { try body(.object([("rollup", .string("daily")), ("k", key(k, [2, 3])), ("n", .number(String(n)))])) }
        for (p, period) in periods { try body(.object([("rollup", .string("period")), ("p", .number(String(p))), ("period", .string(period.description))])) }
    }

    /// Adds one value written by `forEachPartialValue`, interning names with `id`.
    /// - Returns: false when the value is not a rollup value.
    mutating func absorb(_ v: JSONValue, id: (String) -> Int32) throws(PartialDecodeError) -> Bool {
        guard let label = v["rollup"]?.string else { return false }
        func value(_ x: JSONValue) throws(PartialDecodeError) -> Int32 { try PartialDecodeError.id(x, intern: id) }
        if label == "period" {
            guard case .number(let n)? = v["p"], let p = Int32(n), let period = v["period"]?.string.flatMap({ BillingPeriod($0) }) else {
                throw PartialDecodeError()
            }
            periods[p] = period
            return true
        }
        guard case .array(let k)? = v["k"], k.count == 6 else { throw PartialDecodeError() }
        let ids = try k.map { x throws(PartialDecodeError) in try value(x) }
        let key = Key(ids[0], ids[1], ids[2], ids[3], ids[4], ids[5])
        if label == "daily" {
            guard case .number(let n)? = v["n"], let count = Int(n) else { throw PartialDecodeError() }
            daily[key, default: 0] += count
            return true
        }
        guard let cost = v["cost"]?.decimal, case .number(let r)? = v["requests"], let requests = Int(r),
              case .array(let e)? = v["executions"], case .array(let s)? = v["spans"], let parentValue = v["parent"] else {
            throw PartialDecodeError()
        }
        var t = Totals()
        t.cost = cost
        t.requests = requests
        for x in e { t.executions.insert(try value(x)) }
        for x in s { t.spans.insert(try value(x)) }
        t.parent = try value(parentValue)
        if case .array(let others)? = v["other_parents"] { for x in others { t.noteParent(try value(x)) } }
        switch label {
        case "workspaces": workspaces[key, default: Totals()].merge(t, translate: { $0 })
        case "agents": agents[key, default: Totals()].merge(t, translate: { $0 })
        case "executions": executions[key, default: Totals()].merge(t, translate: { $0 })
        case "spans": spans[key, default: Totals()].merge(t, translate: { $0 })
        case "tags": tagValues[key, default: Totals()].merge(t, translate: { $0 })
        default: throw PartialDecodeError()
        }
        return true
    }

    /// Adds another builder's rollups; `translate` maps its interned ids to this side's. Key places
    /// holding ids: workspaces/agents/executions/spans 1…5 (account, sub-account, agent, execution,
    /// span), tag values 1–2 (account, tag set), daily 2–3 (account, tag set).
    mutating func merge(_ other: Rollups, translate t: (Int32) -> Int32) {
        func key(_ k: Key, _ places: [Int]) -> Key {
            var ids = [k[0], k[1], k[2], k[3], k[4], k[5]]
            for p in places { ids[p] = t(ids[p]) }
            return Key(ids[0], ids[1], ids[2], ids[3], ids[4], ids[5])
        }
        func add(_ mine: inout MixTable<Key, Totals>, _ theirs: MixTable<Key, Totals>, _ places: [Int]) {
            for (k, o) in theirs {
                mine[key(k, places), default: Totals()].merge(o, translate: t)
            }
        }
        add(&workspaces, other.workspaces, [1, 2])
        add(&agents, other.agents, [1, 2, 3])
        add(&executions, other.executions, [1, 2, 3, 4])
        add(&spans, other.spans, [1, 2, 3, 4, 5])
        add(&tagValues, other.tagValues, [1, 2])
        for (k, n) in other.daily { daily[key(k, [2, 3]), default: 0] += n }
        for (p, period) in other.periods { periods[p] = period }
    }
}

extension Rollups {
    static let numericColumns: Set<String> = ["cost", "requests", "spans", "executions", "cost_per_request", "cost_per_execution"]

    /// Writes each table as `<folder>/<name>.csv` and `.jsonl` (numbers as JSON numbers).
    public static func write(_ tables: [(name: String, header: [String], rows: [[String?]])], to folder: String) throws -> [String] {
        var written: [String] = []
        for t in tables {
            var csv = CSVWriter.line(t.header)
            var jsonl = ""
            for r in t.rows {
                csv += CSVWriter.line(r)
                jsonl += JSONWriter.write(.object(zip(t.header, r).map { c, v in
                    (c, v.map { numericColumns.contains(c) ? JSONValue.number($0) : .string($0) } ?? .null)
                })) + "\n"
            }
            try OutputFile.write(csv, to: folder + "/\(t.name).csv")
            try OutputFile.write(jsonl, to: folder + "/\(t.name).jsonl")
            written += [folder + "/\(t.name).csv", folder + "/\(t.name).jsonl"]
        }
        return written
    }
}
