import ReckonCore

/// A keyed diff of two tables (CSV with a header, or JSONL), with exact decimals.
///
/// Rows are matched by a composite key (a full outer join); a key that appears more than once in
/// a file is reported as a duplicate, never paired by row order. Cells that both parse as
/// decimals compare by value (`2.0` = `2.00`), within a per-column tolerance when one is given;
/// other cells compare as text, and a null differs from an empty string.
///
/// - Memory: the first table's rows (as strings) plus the keys of the second; the second streams.
public struct TableDiff {
    public enum Tolerance: Sendable, Equatable {
        case absolute(ExactDecimal)
        /// A percentage of the first value's magnitude.
        case relative(ExactDecimal)

        /// Parses `0.01` or `0.5%`.
        public init?(_ text: String) {
            if text.hasSuffix("%") {
                guard let p = ExactDecimal(text.dropLast()), !p.isNegative else { return nil }
                self = .relative(p)
            } else {
                guard let a = ExactDecimal(text), !a.isNegative else { return nil }
                self = .absolute(a)
            }
        }
    }

    public struct Change: Sendable {
        public var key: [String?]
        public var column: String
        public var before: String?
        public var after: String?
    }

    public var header: [String] = []
    public var rowsA = 0
    public var rowsB = 0
    public var added: [[String?]] = []
    public var removed: [[String?]] = []
    public var changes: [Change] = []
    public var duplicateKeysA: [[String?]] = []
    public var duplicateKeysB: [[String?]] = []
    public var keyColumns: [String] = []

    public var isEqual: Bool { added.isEmpty && removed.isEmpty && changes.isEmpty && duplicateKeysA.isEmpty && duplicateKeysB.isEmpty }
    public var changedRows: Int { Set(changes.map { $0.key.map { $0 ?? "\u{0}" } }).count }

    /// Compares `a` (before) with `b` (after).
    public static func compare(_ a: String, _ b: String, keys: [String], tolerances: [String: Tolerance] = [:]) throws -> TableDiff {
        var d = TableDiff()
        d.keyColumns = keys
        let ta = try Table.read(a)
        d.header = ta.header
        for k in keys where !ta.header.contains(k) {
            throw ReckonError(.usage, "key column \(k) is not in the file", at: SourcePosition(file: a))
        }
        var byKey: [[String?]: [String?]] = [:]
        var dupA = Set<[String?]>()
        let keyIdx = keys.map { ta.header.firstIndex(of: $0)! }
        for row in ta.rows {
            let k = keyIdx.map { row[$0] }
            if byKey[k] != nil { dupA.insert(k) } else { byKey[k] = row }
        }
        d.rowsA = ta.rows.count
        let tb = try Table.read(b)
        for k in keys where !tb.header.contains(k) {
            throw ReckonError(.usage, "key column \(k) is not in the file", at: SourcePosition(file: b))
        }
        let keyIdxB = keys.map { tb.header.firstIndex(of: $0)! }
        var seen = Set<[String?]>()
        var dupB = Set<[String?]>()
        let columns = ta.header.filter { tb.header.contains($0) && !keys.contains($0) }
        let idxA = columns.map { ta.header.firstIndex(of: $0)! }
        let idxB = columns.map { tb.header.firstIndex(of: $0)! }
        for row in tb.rows {
            d.rowsB += 1
            let k = keyIdxB.map { row[$0] }
            guard seen.insert(k).inserted else { dupB.insert(k); continue }
            guard let old = byKey[k] else { d.added.append(row); continue }
            for (n, c) in columns.enumerated() where !same(old[idxA[n]], row[idxB[n]], tolerances[c]) {
                d.changes.append(Change(key: k, column: c, before: old[idxA[n]], after: row[idxB[n]]))
            }
        }
        for (k, row) in byKey where !seen.contains(k) { d.removed.append(row) }
        func order(_ x: [String?], _ y: [String?]) -> Bool { x.map { $0 ?? "" }.lexicographicallyPrecedes(y.map { $0 ?? "" }) }
        d.removed.sort { x, y in order(keyIdx.map { x[$0] }, keyIdx.map { y[$0] }) }
        d.added.sort { x, y in order(keyIdxB.map { x[$0] }, keyIdxB.map { y[$0] }) }
        d.changes.sort { order($0.key, $1.key) || ($0.key == $1.key && $0.column < $1.column) }
        d.duplicateKeysA = dupA.sorted(by: order)
        d.duplicateKeysB = dupB.sorted(by: order)
        d.header = tb.header
        return d
    }

    static func same(_ a: String?, _ b: String?, _ tol: Tolerance?) -> Bool {
        if a == b { return true }
        guard let a, let b, let x = ExactDecimal(a), let y = ExactDecimal(b) else { return false }
        let delta = (x - y).magnitude
        switch tol {
        case nil: return delta.isZero
        case .absolute(let t)?: return delta <= t
        case .relative(let p)?: return delta * 100 <= x.magnitude * p
        }
    }

    public var summaryJSON: JSONValue {
        func keyJSON(_ k: [String?]) -> JSONValue { .array(k.map { JSONValue.optional($0) }) }
        return .object([
            ("key", .array(keyColumns.map(JSONValue.string))),
            ("rows_before", .number(String(rowsA))), ("rows_after", .number(String(rowsB))),
            ("added", .number(String(added.count))), ("removed", .number(String(removed.count))),
            ("changed_rows", .number(String(changedRows))), ("changed_cells", .number(String(changes.count))),
            ("duplicate_keys_before", .array(duplicateKeysA.map(keyJSON))),
            ("duplicate_keys_after", .array(duplicateKeysB.map(keyJSON))),
            ("equal", .bool(isEqual)),
        ])
    }

    public var summaryMarkdown: String {
        var s = "# Diff\n\nKey: \(keyColumns.joined(separator: ", ")). Rows before: \(rowsA), after: \(rowsB).\n\n"
        s += "| | rows |\n|---|---:|\n| added | \(added.count) |\n| removed | \(removed.count) |\n| changed | \(changedRows) |\n"
        s += "| duplicate keys (before / after) | \(duplicateKeysA.count) / \(duplicateKeysB.count) |\n"
        if !changes.isEmpty {
            s += "\n| key | column | before | after |\n|---|---|---|---|\n"
            for c in changes.prefix(50) {
                s += "| \(c.key.map { $0 ?? "" }.joined(separator: " / ")) | \(c.column) | \(c.before ?? "null") | \(c.after ?? "null") |\n"
            }
            if changes.count > 50 { s += "\n(\(changes.count - 50) more changed cells in changed.csv)\n" }
        }
        return s
    }

    /// Writes summary.md, summary.json and the changed, added and removed rows as CSV into `folder`.
    public func write(to folder: String) throws {
        try OutputFile.write(summaryMarkdown, to: folder + "/summary.md")
        try OutputFile.write(JSONWriter.write(summaryJSON, pretty: true) + "\n", to: folder + "/summary.json")
        var changed = CSVWriter.line(keyColumns + ["column", "before", "after"])
        for c in changes { changed += CSVWriter.line(c.key + [c.column, c.before, c.after]) }
        try OutputFile.write(changed, to: folder + "/changed.csv")
        try OutputFile.write(CSVWriter.line(header) + added.map { CSVWriter.line($0) }.joined(), to: folder + "/added.csv")
        try OutputFile.write(CSVWriter.line(header) + removed.map { CSVWriter.line($0) }.joined(), to: folder + "/removed.csv")
    }
}

/// A whole table as strings: CSV (header row; an empty unquoted field is null) or JSONL (columns
/// in order of first appearance; JSON null is null; numbers keep their text; objects as JSON text).
struct Table {
    var header: [String] = []
    var rows: [[String?]] = []

    static func read(_ path: String) throws -> Table {
        var t = Table()
        let stream = try ByteStream(path: path)
        if path.hasSuffix(".jsonl") || path.hasSuffix(".jsonl.gz") || path.hasSuffix(".ndjson") {
            let lines = LineReader(stream: stream)
            var objects: [[(key: String, value: JSONValue)]] = []
            var index: [String: Int] = [:]
            while let v = try lines.next({ $0.isEmpty ? nil : try JSONParser.parse($0) }) {
                guard case .object(let m)? = v else { continue }
                for (k, _) in m where index[k] == nil { index[k] = t.header.count; t.header.append(k) }
                objects.append(m)
            }
            for m in objects {
                var row = [String?](repeating: nil, count: t.header.count)
                for (k, v) in m {
                    switch v {
                    case .null: row[index[k]!] = nil
                    case .string(let s): row[index[k]!] = s
                    case .number(let n): row[index[k]!] = n
                    default: row[index[k]!] = JSONWriter.write(v)
                    }
                }
                t.rows.append(row)
            }
            return t
        }
        let reader = CSVReader(stream: stream)
        let r = CSVRecord()
        guard try reader.next(into: r) else { return t }
        t.header = (0..<r.count).map { r.string($0) ?? "" }
        while try reader.next(into: r) {
            guard r.count == t.header.count else {
                throw ReckonError(.badData, "expected \(t.header.count) fields, found \(r.count)", at: SourcePosition(file: path, line: r.line))
            }
            t.rows.append((0..<r.count).map { k in r.isEmpty(k) && !r.quoted(k) ? nil : (r.string(k) ?? "") })
        }
        return t
    }
}
