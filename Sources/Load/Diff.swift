import Dispatch
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReckonCore

/// A keyed diff of two tables (CSV with a header, or JSONL), with exact decimals.
///
/// Rows are matched by a composite key (a full outer join); a key that appears more than once in
/// a file is reported as a duplicate, never paired by row order. Cells that both parse as
/// decimals compare by value (`2.0` = `2.00`), within a per-column tolerance when one is given;
/// other cells compare as text, and a null differs from an empty string.
///
/// - Memory: hashes of the first table's rows, at most one partition of them when it is large
///   (`compareCSV`), plus the differing rows; a JSONL table is transcoded to CSV on disk first.
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

    /// Compares `a` (before) with `b` (after) by the streaming path (`compareCSV`). A JSONL input
    /// is first transcoded to a temporary CSV file (`JSONLTable.transcode`: two streaming passes,
    /// columns in order of first appearance, null kept apart from the empty string), so JSONL and
    /// mixed pairs diff in the same bounded memory as CSV.
    /// - Parameter spillFolder: where a diff too large for memory keeps its hashes (unnamed
    ///   temporary files) and where JSONL inputs are transcoded (removed before returning); default
    ///   `FileSystem.temporaryFolder`.
    /// - Memory: as `compareCSV`; a JSONL input adds its set of column names and one line.
    /// - Disk: a transcoded JSONL input takes about its own size again, until the diff returns.
    public static func compare(_ a: String, _ b: String, keys: [String], tolerances: [String: Tolerance] = [:],
                               spillFolder: String? = nil) throws -> TableDiff {
        // Transcoded tables live in unnamed temporary files, read through their open handles: a
        // killed diff leaves nothing behind. Without /proc, named files removed before returning.
        var transcoded: [TemporaryFile] = []
        var named: [String] = []
        defer { for t in named { FileSystem.remove(t) } }
        func csv(_ path: String) throws -> String {
            guard Table.isJSONL(path) else { return path }
            let folder = spillFolder ?? FileSystem.temporaryFolder
            let file = try TemporaryFile(folder: folder, purpose: "a JSONL table transcoded to CSV")
            if let open = file.openablePath {
                transcoded.append(file)
                try JSONLTable.transcode(path, requiring: keys) { try file.append($0) }
                return open
            }
            let temp = folder + "/.reckon-diff-\(getpid())-\(named.count).csv"
            named.append(temp)
            let out = try OutputFile(path: temp)
            try JSONLTable.transcode(path, requiring: keys) { try out.write(raw: $0) }
            try out.commit()
            return temp
        }
        return try compareCSV(csv(a), csv(b), keys: keys, tolerances: tolerances, spillFolder: spillFolder)
    }

    /// Compares two tables held whole in memory as strings: the plain reference the tests hold the
    /// streaming path to. Memory: both tables.
    static func compareTables(_ a: String, _ b: String, keys: [String], tolerances: [String: Tolerance] = [:]) throws -> TableDiff {
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

    /// The streaming keyed diff of two CSV files.
    ///
    /// Pass 1 reads `a` and keeps, per row, a 128-bit hash of its key fields and one of its
    /// compared fields (the columns both files share, in `a`'s order; a null and an empty string
    /// hash differently). Pass 2 streams `b`: a row whose key is unknown is added; one whose
    /// hash equals its `a` row's is equal and costs nothing more; the others (and `a`'s rows never
    /// seen) are read again from `a` in a last sequential pass, only those, and compared cell by
    /// cell with exact decimals and tolerances. Rows are taken as equal when both 128-bit hashes
    /// agree (a false match has probability about 2⁻¹²⁸ per row).
    /// - Memory: about 60 bytes per row of `a` plus the differing rows as strings; `b` streams.
    /// - Complexity: O(bytes of a + bytes of b), plus a third partial read of `a` when rows differ.
    ///
    /// When a file is large (more than about `rowsInMemory` rows by its size), the hashes of both files
    /// go to `partitions` temporary files by key hash instead (`comparePartitioned`), so that memory
    /// holds one partition of `a` at a time: the same result, in memory bounded by the partition.
    /// Files of 64 MiB or more take that path too (two partitions at least): it reads and hashes
    /// the two files at once, on two threads.
    static func compareCSV(_ a: String, _ b: String, keys: [String], tolerances: [String: Tolerance],
                           spillFolder: String? = nil, rowsInMemory: Int = 1 << 21, partitions: Int? = nil) throws -> TableDiff {
        var d = TableDiff()
        d.keyColumns = keys
        let readerA = CSVReader(stream: try ByteStream.dataset(path: a)), readerB = CSVReader(stream: try ByteStream.dataset(path: b))
        let r = CSVRecord()
        guard try readerA.next(into: r) else { throw ReckonError(.badData, "no header row", at: SourcePosition(file: a, line: 1)) }
        let headerA = (0..<r.count).map { r.string($0) ?? "" }
        guard try readerB.next(into: r) else { throw ReckonError(.badData, "no header row", at: SourcePosition(file: b, line: 1)) }
        let headerB = (0..<r.count).map { r.string($0) ?? "" }
        for k in keys where !headerA.contains(k) { throw ReckonError(.usage, "key column \(k) is not in the file", at: SourcePosition(file: a)) }
        for k in keys where !headerB.contains(k) { throw ReckonError(.usage, "key column \(k) is not in the file", at: SourcePosition(file: b)) }
        let keyA = keys.map { headerA.firstIndex(of: $0)! }, keyB = keys.map { headerB.firstIndex(of: $0)! }
        let columns = headerA.filter { headerB.contains($0) && !keys.contains($0) }
        let colA = columns.map { headerA.firstIndex(of: $0)! }, colB = columns.map { headerB.firstIndex(of: $0)! }
        d.header = headerB

        func fields(_ r: CSVRecord, _ width: Int, _ file: String) throws -> [String?] {
            guard r.count == width else {
                throw ReckonError(.badData, "expected \(width) fields, found \(r.count)", at: SourcePosition(file: file, line: r.line))
            }
            return cells(r)
        }

        // Sized by the larger file: keys only in `b` are held per partition too.
        let bytes = max(FileSystem.fingerprint(a)?.size ?? 0, FileSystem.fingerprint(b)?.size ?? 0)
        // From 64 MiB on, at least two partitions: the partitioned path reads the two files at once.
        let count = partitions ?? max(Self.partitionCount(bytes: bytes, rowsInMemory: rowsInMemory), bytes >= 64 << 20 ? 2 : 1)
        if count > 1 {
            try comparePartitioned(&d, readerA, readerB, a: a, b: b, count: count, folder: spillFolder ?? FileSystem.temporaryFolder,
                                   keyA: keyA, keyB: keyB, colA: colA, colB: colB, columns: columns, tolerances: tolerances,
                                   widths: (headerA.count, headerB.count))
            return d
        }

        // Pass 1: a's hashes.
        var index: [Hash128: Int32] = [:]
        var rowHashes: [Hash128] = []
        var dupA: [Hash128: [String?]] = [:]
        var dupRows: [Int] = []     // later rows of a duplicated key: reported as duplicates, not as removed
        while try readerA.next(into: r) {
            guard r.count == headerA.count else {
                throw ReckonError(.badData, "expected \(headerA.count) fields, found \(r.count)", at: SourcePosition(file: a, line: r.line))
            }
            let k = Hash128(r, keyA)
            if index[k] == nil {
                index[k] = Int32(rowHashes.count)
            } else {
                dupRows.append(rowHashes.count)
                if dupA[k] == nil { dupA[k] = keyA.map { r.string($0) } }
            }
            rowHashes.append(Hash128(r, colA))
        }
        d.rowsA = rowHashes.count

        // Pass 2: b streams against them.
        var seen = [Bool](repeating: false, count: rowHashes.count)
        for n in dupRows { seen[n] = true }
        var differing: [Int32: [String?]] = [:]     // a's row index → b's row
        var addedKeys: Set<Hash128> = []
        var dupB: [Hash128: [String?]] = [:]
        while try readerB.next(into: r) {
            d.rowsB += 1
            guard r.count == headerB.count else {
                throw ReckonError(.badData, "expected \(headerB.count) fields, found \(r.count)", at: SourcePosition(file: b, line: r.line))
            }
            let k = Hash128(r, keyB)
            guard let i = index[k] else {
                if addedKeys.insert(k).inserted { d.added.append(try fields(r, headerB.count, b)) } else if dupB[k] == nil { dupB[k] = keyB.map { r.string($0) } }
                continue
            }
            if seen[Int(i)] { if dupB[k] == nil { dupB[k] = keyB.map { r.string($0) } }; continue }
            seen[Int(i)] = true
            if Hash128(r, colB) != rowHashes[Int(i)] { differing[i] = try fields(r, headerB.count, b) }
        }

        // Pass 3 (only when something differs): a's rows that changed or are gone, read again.
        let removedCount = seen.lazy.filter { !$0 }.count
        if !differing.isEmpty || removedCount > 0 {
            let again = CSVReader(stream: try ByteStream(path: a))
            _ = try again.next(into: r)
            var n = 0
            while try again.next(into: r) {
                defer { n += 1 }
                let i = Int32(n)
                if !seen[n] {
                    d.removed.append(try fields(r, headerA.count, a))
                } else if let after = differing[i] {
                    let before = try fields(r, headerA.count, a)
                    let key = keyB.map { after[$0] }
                    for (m, c) in columns.enumerated() where !same(before[colA[m]], after[colB[m]], tolerances[c]) {
                        d.changes.append(Change(key: key, column: c, before: before[colA[m]], after: after[colB[m]]))
                    }
                }
            }
        }
        d.finish(keyA: keyA, keyB: keyB, duplicatesA: Array(dupA.values), duplicatesB: Array(dupB.values))
        return d
    }

    /// A CSV record's cells as text; an empty unquoted cell is null.
    static func cells(_ r: CSVRecord) -> [String?] {
        (0..<r.count).map { k in r.isEmpty(k) && !r.quoted(k) ? nil : (r.string(k) ?? "") }
    }

    /// Sorts what was found into the report's order: rows and duplicate keys by key text,
    /// changes by key, then column.
    mutating func finish(keyA: [Int], keyB: [Int], duplicatesA: [[String?]], duplicatesB: [[String?]]) {
        func order(_ x: [String?], _ y: [String?]) -> Bool { x.map { $0 ?? "" }.lexicographicallyPrecedes(y.map { $0 ?? "" }) }
        removed.sort { x, y in order(keyA.map { x[$0] }, keyA.map { y[$0] }) }
        added.sort { x, y in order(keyB.map { x[$0] }, keyB.map { y[$0] }) }
        changes.sort { order($0.key, $1.key) || ($0.key == $1.key && $0.column < $1.column) }
        duplicateKeysA = duplicatesA.sorted(by: order)
        duplicateKeysB = duplicatesB.sorted(by: order)
    }

    /// How many partitions `compareCSV` spreads a file of `bytes` over: a power of two, so that a
    /// partition holds about `rowsInMemory` rows at most (taking rows to be 256 bytes at least;
    /// FOCUS rows are near 700), 1 for a file that fits, 256 at most.
    static func partitionCount(bytes: Int, rowsInMemory: Int) -> Int {
        var n = 1
        while n < 256 && bytes / n > rowsInMemory * 256 { n *= 2 }
        return n
    }

    /// `compareCSV` past memory: pass 1 writes each row of `a` as (key hash, row hash, row number)
    /// to the partition of its key hash, pass 2 the same for `b`; then each partition pairs its
    /// rows exactly as the in-memory path does (first row of a key in `a`, rows of `b` in file
    /// order), keeping only row numbers of what differs; a last read of each file fetches those
    /// rows and compares them cell by cell.
    /// - Memory: one partition of `a` (about 60 bytes a row), 64 KiB of buffer per partition, and
    ///   the differing rows; temporary files of 40 bytes per row of both files (unnamed: freed
    ///   whatever way the run ends).
    static func comparePartitioned(_ d: inout TableDiff, _ readerA: CSVReader, _ readerB: CSVReader, a: String, b: String,
                                   count: Int, folder: String, keyA: [Int], keyB: [Int], colA: [Int], colB: [Int],
                                   columns: [String], tolerances: [String: Tolerance], widths: (a: Int, b: Int)) throws {
        let mask = UInt64(count - 1)
        @Sendable func partition(_ k: Hash128) -> Int { Int(truncatingIfNeeded: (k.h1 >> 32) & mask) }
        @Sendable func spill(_ reader: CSVReader, _ file: String, width: Int, key: [Int], compared: [Int]) throws -> (HashPartitions, Int) {
            let parts = try HashPartitions(count: count, folder: folder, purpose: "the diff of \(file)")
            let r = CSVRecord()
            var n: Int32 = 0
            while try reader.next(into: r) {
                guard r.count == width else {
                    throw ReckonError(.badData, "expected \(width) fields, found \(r.count)", at: SourcePosition(file: file, line: r.line))
                }
                let k = Hash128(r, key)
                try parts.add(.init(key: k, row: Hash128(r, compared), index: n), to: partition(k))
                n += 1
            }
            try parts.flush()
            return (parts, Int(n))
        }
        // The two files are read and hashed at once, on two threads (each into its own partitions);
        // an error in `a` is reported before one in `b`, as when they were read one after the other.
        // Each reader is used by one thread only.
        struct Job: @unchecked Sendable { let reader: CSVReader, file: String, width: Int, key: [Int], compared: [Int] }
        let jobs = [Job(reader: readerA, file: a, width: widths.a, key: keyA, compared: colA),
                    Job(reader: readerB, file: b, width: widths.b, key: keyB, compared: colB)]
        let spilled = try concurrentMap(2) { i in
            try spill(jobs[i].reader, jobs[i].file, width: jobs[i].width, key: jobs[i].key, compared: jobs[i].compared)
        }
        let (partsA, rowsA) = spilled[0], (partsB, rowsB) = spilled[1]
        (d.rowsA, d.rowsB) = (rowsA, rowsB)

        // Each partition paired as the in-memory path pairs the whole files; only row numbers kept.
        var removed: [Int32] = [], added: [Int32] = [], pairs: [(a: Int32, b: Int32)] = []
        var duplicatesA: [Int32] = [], duplicatesB: [Int32] = []   // the first repeat of each repeated key
        for p in 0..<count {
            var index: [Hash128: Int32] = [:]
            var first: [(row: Int32, hash: Hash128)] = []
            var seen: [Bool] = []
            var repeatedA = Set<Hash128>(), unknown = Set<Hash128>(), repeatedB = Set<Hash128>()
            try partsA.forEach(p) { rec in
                if index[rec.key] == nil {
                    index[rec.key] = Int32(first.count)
                    first.append((rec.index, rec.row))
                    seen.append(false)
                } else if repeatedA.insert(rec.key).inserted {
                    duplicatesA.append(rec.index)
                }
            }
            try partsB.forEach(p) { rec in
                guard let i = index[rec.key].map(Int.init) else {
                    if unknown.insert(rec.key).inserted { added.append(rec.index) } else if repeatedB.insert(rec.key).inserted { duplicatesB.append(rec.index) }
                    return
                }
                if seen[i] {
                    if repeatedB.insert(rec.key).inserted { duplicatesB.append(rec.index) }
                    return
                }
                seen[i] = true
                if rec.row != first[i].hash { pairs.append((first[i].row, rec.index)) }
            }
            for (i, s) in seen.enumerated() where !s { removed.append(first[i].row) }
        }

        // The rows behind those numbers, read in file order; then compared cell by cell.
        @Sendable func fetch(_ file: String, _ wanted: Set<Int32>, key: [Int]) throws -> [Int32: (fields: [String?], key: [String?])] {
            var out: [Int32: (fields: [String?], key: [String?])] = [:]
            guard !wanted.isEmpty else { return out }
            let reader = CSVReader(stream: try ByteStream(path: file))
            let r = CSVRecord()
            _ = try reader.next(into: r)
            var n: Int32 = 0
            while out.count < wanted.count, try reader.next(into: r) {
                if wanted.contains(n) {
                    out[n] = (cells(r), key.map { r.string($0) })
                }
                n += 1
            }
            guard out.count == wanted.count else {
                throw ReckonError(.badData, "the file changed while it was being compared (it has fewer rows now): run the diff again",
                                  at: SourcePosition(file: file))
            }
            return out
        }
        removed.sort(); added.sort(); pairs.sort { $0.a < $1.a }
        // The two fetches also run at once.
        let wanted = [(a, Set(removed + pairs.map(\.a) + duplicatesA), keyA), (b, Set(added + pairs.map(\.b) + duplicatesB), keyB)]
        let fetched = try concurrentMap(2) { i in try fetch(wanted[i].0, wanted[i].1, key: wanted[i].2) }
        let rowsOfA = fetched[0], rowsOfB = fetched[1]
        d.removed = removed.map { rowsOfA[$0]!.fields }
        d.added = added.map { rowsOfB[$0]!.fields }
        for (x, y) in pairs {
            let before = rowsOfA[x]!.fields, after = rowsOfB[y]!.fields
            let key = keyB.map { after[$0] }
            for (m, c) in columns.enumerated() where !same(before[colA[m]], after[colB[m]], tolerances[c]) {
                d.changes.append(Change(key: key, column: c, before: before[colA[m]], after: after[colB[m]]))
            }
        }
        d.finish(keyA: keyA, keyB: keyB, duplicatesA: duplicatesA.map { rowsOfA[$0]!.key }, duplicatesB: duplicatesB.map { rowsOfB[$0]!.key })
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

/// A 128-bit hash of some fields of a CSV record: two 64-bit lanes of a multiply-mix over 8-byte
/// words. Each field is preceded by its length and a null flag, so `a,bc` ≠ `ab,c` and a null ≠ "".
struct Hash128: Hashable {
    var h1: UInt64, h2: UInt64

    init(h1: UInt64, h2: UInt64) { (self.h1, self.h2) = (h1, h2) }

    @inline(__always)
    static func mix(_ h: UInt64, _ v: UInt64, _ m: UInt64) -> UInt64 {
        let x = (h ^ v) &* m
        return x ^ (x >> 29)
    }

    init(_ r: CSVRecord, _ columns: [Int]) {
        var a: UInt64 = 0x9E37_79B9_7F4A_7C15, b: UInt64 = 0xC2B2_AE3D_27D4_EB4F
        let m1: UInt64 = 0xFF51_AFD7_ED55_8CCD, m2: UInt64 = 0xC4CE_B9FE_1A85_EC53
        for k in columns {
            let f = r.field(k)
            let tag = UInt64(f.count) << 1 | (f.isEmpty && !r.quoted(k) ? 1 : 0)
            a = Self.mix(a, tag, m1); b = Self.mix(b, tag, m2)
            var i = 0
            while i + 8 <= f.count {
                let w = f.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                a = Self.mix(a, w, m1); b = Self.mix(b, w &+ 0x632B_E59B_D9B4_E019, m2)
                i += 8
            }
            if i < f.count {
                var w: UInt64 = 0
                for j in i..<f.count { w = w << 8 | UInt64(f[j]) }
                a = Self.mix(a, w, m1); b = Self.mix(b, w &+ 0x632B_E59B_D9B4_E019, m2)
            }
        }
        h1 = a
        h2 = b
    }
}

/// A whole table as strings: CSV (header row; an empty unquoted field is null) or JSONL (columns
/// in order of first appearance; JSON null is null; numbers keep their text; objects as JSON text).
struct Table {
    var header: [String] = []
    var rows: [[String?]] = []

    static func isJSONL(_ path: String) -> Bool { path.hasSuffix(".jsonl") || path.hasSuffix(".jsonl.gz") || path.hasSuffix(".ndjson") }

    static func read(_ path: String) throws -> Table {
        var t = Table()
        let stream = try ByteStream(path: path)
        if isJSONL(path) {
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
                for (k, v) in m { row[index[k]!] = JSONLTable.cell(v) }
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
            t.rows.append(TableDiff.cells(r))
        }
        return t
    }
}

/// A JSONL table as CSV, for the streaming diff.
enum JSONLTable {
    /// A JSON member's cell: null for JSON null, a string's text, a number as written, anything
    /// else its JSON text.
    static func cell(_ v: JSONValue) -> String? {
        switch v {
        case .null: return nil
        case .string(let s): return s
        case .number(let n): return n
        default: return JSONWriter.write(v)
        }
    }

    /// Writes the JSONL file `path` (gzip or not) as CSV, a megabyte at a time to `write`: a header of the
    /// columns in order of first appearance (the first pass), then one line per object (the
    /// second). JSON null and a missing member become an empty unquoted field (null), a string its
    /// text (an empty string quoted, as `""`), a number its text as written, anything else its
    /// JSON text. Blank lines are skipped.
    /// - Throws: `.badData` naming the file and line for a line that is not a JSON object; `.usage`
    ///   when a key column is not in the file.
    /// - Memory: the column names and one line; O(bytes) time, the file read twice.
    static func transcode(_ path: String, requiring keys: [String], write: (UnsafeRawBufferPointer) throws -> Void) throws {
        func objects(_ body: ([(key: String, value: JSONValue)]) throws -> Void) throws {
            let lines = LineReader(stream: try ByteStream(path: path))
            while let value = try lines.next({ line -> JSONValue? in
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
                do { return try JSONParser.parse(line) } catch {
                    throw ReckonError(.badData, "not valid JSON: \(error)", at: SourcePosition(file: path, line: lines.lineNumber))
                }
            }) {
                guard let v = value else { continue }
                guard case .object(let members) = v else {
                    throw ReckonError(.badData, "a line of a JSONL table must be a JSON object", at: SourcePosition(file: path, line: lines.lineNumber))
                }
                try body(members)
            }
        }
        var header: [String] = [], column: [String: Int] = [:]
        try objects { for (k, _) in $0 where column[k] == nil { column[k] = header.count; header.append(k) } }
        for k in keys where column[k] == nil {
            throw ReckonError(.usage, "key column \(k) is not in the file", at: SourcePosition(file: path))
        }
        var out: [UInt8] = []
        out.reserveCapacity(1 << 20)
        out.append(contentsOf: CSVWriter.line(header).utf8)
        var row = [String?](repeating: nil, count: header.count)
        try objects { members in
            for i in row.indices { row[i] = nil }
            for (k, v) in members { row[column[k]!] = cell(v) }
            out.append(contentsOf: CSVWriter.line(row).utf8)
            if out.count >= 1 << 20 {
                try out.withUnsafeBytes { try write($0) }
                out.removeAll(keepingCapacity: true)
            }
        }
        try out.withUnsafeBytes { try write($0) }
    }
}

/// Fixed 40-byte records — a row's key hash, its compared-fields hash and its row number — spread
/// over unnamed temporary files, one per partition, 64 KiB of each buffered in memory.
final class HashPartitions {
    struct Record { var key: Hash128, row: Hash128, index: Int32 }
    private let files: [TemporaryFile]
    private var buffers: [[Record]]
    private static let batch = 1_600

    init(count: Int, folder: String, purpose: String) throws {
        files = try (0..<count).map { _ in try TemporaryFile(folder: folder, purpose: purpose) }
        buffers = Array(repeating: [], count: count)
    }

    func add(_ r: Record, to p: Int) throws {
        buffers[p].append(r)
        if buffers[p].count >= Self.batch { try flush(p) }
    }

    private func flush(_ p: Int) throws {
        try buffers[p].withUnsafeBytes { try files[p].append($0) }
        buffers[p].removeAll(keepingCapacity: true)
    }

    /// Writes out what is buffered (before reading back).
    func flush() throws { for p in files.indices where !buffers[p].isEmpty { try flush(p) } }

    /// Partition `p`'s records in the order they were added.
    func forEach(_ p: Int, _ body: (Record) throws -> Void) throws {
        let stride = MemoryLayout<Record>.stride, file = files[p]
        var buffer = [Record](repeating: Record(key: Hash128(h1: 0, h2: 0), row: Hash128(h1: 0, h2: 0), index: 0), count: Self.batch)
        var offset = 0
        while offset < file.size {
            let n = min(Self.batch, (file.size - offset) / stride)
            try buffer.withUnsafeMutableBytes { try file.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<(n * stride)])) }
            for k in 0..<n { try body(buffer[k]) }
            offset += n * stride
        }
    }
}
