import Foundation
import Testing
import ReckonCore
@testable import ReckonLoad

@Suite("Diff: keyed, exact, with tolerances", .serialized)
struct DiffTests {
    static let before = """
    day,account,cost,note
    2026-10-01,a,1.10,x
    2026-10-01,b,2.0,y
    2026-10-02,a,3.333,z
    2026-10-03,a,5,
    2026-10-04,a,7,dup
    2026-10-04,a,8,dup

    """
    static let after = """
    day,account,cost,note
    2026-10-01,a,1.10000,x
    2026-10-01,b,2.004,y
    2026-10-02,a,3.4,z
    2026-10-05,c,9,
    2026-10-04,a,7,dup

    """

    @Test func theCommandFindsWhatChangedAndExitsOne() throws {
        let dir = Jobs.tempDir("diff")
        try Jobs.write(Self.before, to: dir + "/a.csv")
        try Jobs.write(Self.after, to: dir + "/b.csv")
        let r = try Jobs.run("reckon-load", ["diff", dir + "/a.csv", dir + "/b.csv", "--key", "day,account",
                                             "--tolerance", "cost=0.01", "--output", dir + "/out"])
        #expect(r.status == 1)
        let s = try JSONParser.parse(Array(Jobs.read(dir + "/out/summary.json").utf8))
        #expect(s["added"] == .number("1") && s["removed"] == .number("1"))
        #expect(s["changed_rows"] == .number("1"))       // 3.333 → 3.4; 2.0 → 2.004 is within 0.01; 1.10 = 1.10000
        #expect(s["duplicate_keys_before"] == .array([.array([.string("2026-10-04"), .string("a")])]))
        let changed = try Jobs.read(dir + "/out/changed.csv")
        #expect(changed == "day,account,column,before,after\n2026-10-02,a,cost,3.333,3.4\n")
        #expect(try Jobs.read(dir + "/out/removed.csv").contains("2026-10-03,a,5,\n"))

        // Exact by default: 2.0 vs 2.004 is a change; equal files exit 0.
        let exact = try Jobs.run("reckon-load", ["diff", dir + "/a.csv", dir + "/b.csv", "--key", "day,account", "--output", dir + "/exact"])
        #expect(exact.status == 1)
        #expect(try JSONParser.parse(Array(Jobs.read(dir + "/exact/summary.json").utf8))["changed_rows"] == .number("2"))
        #expect(try Jobs.run("reckon-load", ["diff", dir + "/a.csv", dir + "/a.csv", "--key", "day,account,cost"]).status == 0)
        #expect(try Jobs.run("reckon-load", ["diff", dir + "/a.csv", dir + "/b.csv", "--key", "nope"]).status == 64)
    }

    @Test func theNightlyRunSaysWhatChangedSinceTheLastOne() throws {
        let dir = try Jobs.samplesCopy("since")
        let out = Jobs.tempDir("since-out")
        #expect(try Jobs.nightly(input: dir, output: out).status == 0)
        #expect(!FileManager.default.fileExists(atPath: out + "/reports/billing_period=2026-10/diff"))
        // Late usage arrives: one more day's worth on a page.
        let page = dir + "/usage/provider=anthropic/billing_account=org_01JX8ACME4Q2/messages-2026-10-page-1.json"
        let text = try Jobs.read(page).replacingOccurrences(of: "\"uncached_input_tokens\": 401235", with: "\"uncached_input_tokens\": 401236")
        try text.write(toFile: page, atomically: true, encoding: .utf8)
        #expect(try Jobs.nightly(input: dir, output: out).status == 0)
        let s = try JSONParser.parse(Array(Jobs.read(out + "/reports/billing_period=2026-10/diff/estimated/summary.json").utf8))
        #expect(s["added"] == .number("0") && s["removed"] == .number("0"))
        // Oct 1, Production, Sonnet 4.5 input tokens: one more token; and the estimate's rounding to the cent.
        #expect(s["changed_rows"] == .number("2"))
        let changed = try Jobs.read(out + "/reports/billing_period=2026-10/diff/estimated/changed.csv")
        #expect(changed.contains(",ConsumedQuantity,401235.0,401236.0\n"))
        let inv = try JSONParser.parse(Array(Jobs.read(out + "/reports/billing_period=2026-10/diff/invoiced/summary.json").utf8))
        #expect(inv["equal"] == .bool(true))
    }

    /// Two providers billing the same account id each get an estimated rounding row: the row key
    /// tells them apart, so an unchanged rerun is "equal", not a pair of duplicate keys.
    @Test func anUnchangedRerunIsEqualWithTwoProvidersOnOneAccountId() throws {
        let dir = Jobs.tempDir("two-providers")
        try Jobs.write("""
            timestamp,provider,billing_account,model,input_tokens
            2026-10-01T09:00:00Z,openai,acct_same,gpt-4o,1234567
            2026-10-01T09:00:00Z,anthropic,acct_same,claude-sonnet-4-5,7654321

            """, to: dir + "/usage/export.csv")
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        for card in ["openai", "anthropic"] {
            try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/\(card).csv", toPath: dir + "/ratecards/\(card).csv")
        }
        let out = Jobs.tempDir("two-providers-out")
        #expect(try Jobs.nightly(input: dir, output: out).status == 0)
        let rows = try Jobs.read(out + "/focus/estimated/billing_period=2026-10/part-00000.csv")
        #expect(rows.components(separatedBy: ",Adjustment,").count - 1 == 2)
        try Jobs.write("provider,utc_offset\n", to: dir + "/billing_time_zones.csv")  // an input change: the nightly runs again
        #expect(try Jobs.nightly(input: dir, output: out).status == 0)
        let summary = try JSONParser.parse(Array(Jobs.read(out + "/reports/billing_period=2026-10/diff/estimated/summary.json").utf8))
        #expect(summary["equal"] == .bool(true) && summary["duplicate_keys_before"] == .array([]))
    }

    /// The streaming CSV diff agrees with the whole-table one on random tables with nulls, quoted
    /// empty strings, decimals written differently, duplicates, added and removed rows, and columns
    /// in another order.
    @Test func theStreamingDiffAgreesWithTheWholeTableDiff() throws {
        var rng = SplitMix(seed: 42)
        let values = ["", "\"\"", "1.0", "1.00", "2", "x", "\"a,b\"", "3.14159"]
        for round in 0..<20 {
            let dir = Jobs.tempDir("diff-prop")
            var a = "k1,k2,c1,c2,c3\n", b = "k2,c3,k1,c2,c1\n"
            for n in 0..<150 {
                let k1 = "r\(n % 60)", k2 = String(n % 3)
                let c = (0..<3).map { _ in values[Int(rng.next() % UInt64(values.count))] }
                if rng.next() % 10 != 0 { a += "\(k1),\(k2),\(c[0]),\(c[1]),\(c[2])\n" }
                if rng.next() % 10 != 0 {
                    let d = c.map { rng.next() % 5 == 0 ? values[Int(rng.next() % UInt64(values.count))] : $0 }
                    b += "\(k2),\(d[2]),\(k1),\(d[1]),\(d[0])\n"
                }
            }
            try Jobs.write(a, to: dir + "/a.csv")
            try Jobs.write(b, to: dir + "/b.csv")
            let tolerances: [String: TableDiff.Tolerance] = round % 2 == 0 ? [:] : ["c2": .absolute(1)]
            let fast = try TableDiff.compareCSV(dir + "/a.csv", dir + "/b.csv", keys: ["k1", "k2"], tolerances: tolerances)
            let whole = try TableDiff.compareTables(dir + "/a.csv", dir + "/b.csv", keys: ["k1", "k2"], tolerances: tolerances)
            #expect(JSONWriter.write(fast.summaryJSON) == JSONWriter.write(whole.summaryJSON), "round \(round)")
            #expect(fast.added == whole.added && fast.removed == whole.removed, "round \(round)")
            #expect(fast.changes.map { "\($0.key) \($0.column) \($0.before ?? "null") \($0.after ?? "null")" }
                    == whole.changes.map { "\($0.key) \($0.column) \($0.before ?? "null") \($0.after ?? "null")" }, "round \(round)")
            #expect(!fast.isEqual)
            // The partitioned path (hashes in temporary files, one partition in memory at a time)
            // gives the same diff, duplicates and row counts included.
            let parts = [2, 4, 16][round % 3]
            let parted = try TableDiff.compareCSV(dir + "/a.csv", dir + "/b.csv", keys: ["k1", "k2"], tolerances: tolerances,
                                                  spillFolder: dir, partitions: parts)
            #expect(JSONWriter.write(parted.summaryJSON) == JSONWriter.write(fast.summaryJSON), "round \(round), \(parts) partitions")
            #expect(parted.added == fast.added && parted.removed == fast.removed, "round \(round)")
            #expect(parted.duplicateKeysA == fast.duplicateKeysA && parted.duplicateKeysB == fast.duplicateKeysB, "round \(round)")
            #expect((parted.rowsA, parted.rowsB) == (fast.rowsA, fast.rowsB) && !fast.duplicateKeysA.isEmpty)
            #expect(parted.changes.map { "\($0.key) \($0.column) \($0.before ?? "null") \($0.after ?? "null")" }
                    == fast.changes.map { "\($0.key) \($0.column) \($0.before ?? "null") \($0.after ?? "null")" }, "round \(round)")
        }
        #expect(TableDiff.partitionCount(bytes: 100 << 20, rowsInMemory: 1 << 21) == 1)
        #expect(TableDiff.partitionCount(bytes: 1_200 << 20, rowsInMemory: 1 << 21) == 4)
        #expect(TableDiff.partitionCount(bytes: 1 << 50, rowsInMemory: 1 << 21) == 256)
    }

    /// JSONL tables (and a JSONL table against a CSV one) diff through the streaming path with the
    /// same result as the whole-table diff of the same rows as CSV: null (written or missing) apart
    /// from the empty string, numbers compared by value, strings with commas, duplicates.
    @Test func jsonlTablesDiffLikeTheSameRowsAsCSV() throws {
        var rng = SplitMix(seed: 7)
        // (CSV text, JSON text or nil for null)
        let values: [(String, String?)] = [("", nil), ("\"\"", "\"\""), ("1.0", "1.0"), ("1.00", "1.00"), ("2", "2"),
                                           ("x", "\"x\""), ("\"a,b\"", "\"a,b\""), ("3.14159", "3.14159")]
        func json(_ names: [String], _ cells: [(String, String?)], first: Bool, _ rng: inout SplitMix) -> String {
            var members: [String] = []
            for (n, c) in zip(names, cells) {
                if let j = c.1 { members.append("\"\(n)\":\(j)") }
                else if first || rng.next() % 2 == 0 { members.append("\"\(n)\":null") }  // else: missing
            }
            return "{" + members.joined(separator: ",") + "}\n"
        }
        for round in 0..<10 {
            let dir = Jobs.tempDir("diff-jsonl")
            var a = "k1,k2,c1,c2,c3\n", b = "k2,c3,k1,c2,c1\n", ja = "", jb = ""
            for n in 0..<120 {
                let k1 = ("r\(n % 45)", "\"r\(n % 45)\""), k2 = (String(n % 5), "\"\(n % 5)\"")  // n, n + 45 and n + 90 share a key
                let c = (0..<3).map { _ in values[Int(rng.next() % UInt64(values.count))] }
                if rng.next() % 10 != 0 {
                    a += "\(k1.0),\(k2.0),\(c[0].0),\(c[1].0),\(c[2].0)\n"
                    ja += json(["k1", "k2", "c1", "c2", "c3"], [k1, k2, c[0], c[1], c[2]], first: ja.isEmpty, &rng)
                }
                if rng.next() % 10 != 0 {
                    let d = c.map { rng.next() % 5 == 0 ? values[Int(rng.next() % UInt64(values.count))] : $0 }
                    b += "\(k2.0),\(d[2].0),\(k1.0),\(d[1].0),\(d[0].0)\n"
                    jb += json(["k2", "c3", "k1", "c2", "c1"], [k2, d[2], k1, d[1], d[0]], first: jb.isEmpty, &rng)
                }
            }
            try Jobs.write(a, to: dir + "/a.csv")
            try Jobs.write(b, to: dir + "/b.csv")
            try Jobs.write(ja, to: dir + "/a.jsonl")
            try Jobs.write(jb + "\n", to: dir + "/b.jsonl")  // a blank last line is skipped
            let tolerances: [String: TableDiff.Tolerance] = round % 2 == 0 ? [:] : ["c2": .absolute(1)]
            let whole = try TableDiff.compareTables(dir + "/a.csv", dir + "/b.csv", keys: ["k1", "k2"], tolerances: tolerances)
            func changes(_ d: TableDiff) -> [String] { d.changes.map { "\($0.key) \($0.column) \($0.before ?? "null") \($0.after ?? "null")" } }
            for (x, y) in [("a.jsonl", "b.jsonl"), ("a.csv", "b.jsonl"), ("a.jsonl", "b.csv")] {
                let d = try TableDiff.compare(dir + "/" + x, dir + "/" + y, keys: ["k1", "k2"], tolerances: tolerances, spillFolder: dir)
                #expect(JSONWriter.write(d.summaryJSON) == JSONWriter.write(whole.summaryJSON), "round \(round) \(x) \(y)")
                #expect(d.added == whole.added && d.removed == whole.removed && changes(d) == changes(whole), "round \(round) \(x) \(y)")
                #expect(d.duplicateKeysA == whole.duplicateKeysA && d.duplicateKeysB == whole.duplicateKeysB)
            }
            #expect(!whole.isEqual && whole.rowsA > 90 && !whole.duplicateKeysA.isEmpty && !whole.duplicateKeysB.isEmpty)
            // The transcoded copies are gone.
            #expect(try FileSystem.files(under: dir, includeHidden: true).sorted().map(FileSystem.lastComponent)
                    == ["a.csv", "a.jsonl", "b.csv", "b.jsonl"])
        }
    }

    /// The partitioned path reads both files at once: a short row is reported with its file and
    /// line, the first file's before the second's, as when they were read one after the other.
    @Test func thePartitionedPathNamesTheBrokenFileFirstInOrder() throws {
        let dir = Jobs.tempDir("diff-broken")
        var good = "k,v\n", bad = "k,v\n", early = "k,v\n"
        for n in 0..<500 {
            good += "r\(n),\(n)\n"
            bad += n == 321 ? "r\(n)\n" : "r\(n),\(n)\n"
            early += n == 5 ? "r\(n)\n" : "r\(n),\(n)\n"
        }
        try Jobs.write(good, to: dir + "/good.csv")
        try Jobs.write(bad, to: dir + "/bad.csv")
        try Jobs.write(early, to: dir + "/early.csv")
        for (a, b, culprit, line) in [("bad.csv", "early.csv", "bad.csv", 323), ("good.csv", "early.csv", "early.csv", 7),
                                      ("bad.csv", "good.csv", "bad.csv", 323)] {
            let e = #expect(throws: ReckonError.self) {
                _ = try TableDiff.compareCSV(dir + "/" + a, dir + "/" + b, keys: ["k"], tolerances: [:], spillFolder: dir, partitions: 4)
            }
            #expect(e?.code == .badData && e?.position?.file == dir + "/" + culprit && e?.position?.line == line, "\(a) \(b)")
        }
        let d = try TableDiff.compareCSV(dir + "/good.csv", dir + "/good.csv", keys: ["k"], tolerances: [:], spillFolder: dir, partitions: 4)
        #expect(d.isEqual && d.rowsA == 500 && d.rowsB == 500)
    }

    /// A JSONL line that is not an object, or not JSON, stops the diff naming the file and line;
    /// a key column the file never has is a usage error.
    @Test func aBrokenJSONLTableIsNamedWithItsLine() throws {
        let dir = Jobs.tempDir("diff-jsonl-bad")
        try Jobs.write("{\"k\":\"a\",\"v\":1}\n", to: dir + "/a.jsonl")
        try Jobs.write("{\"k\":\"a\",\"v\":1}\n\n[1,2]\n", to: dir + "/b.jsonl")
        try Jobs.write("{\"k\":\"a\",\"v\":1}\n{\"k\":\"b\",\"v\":2\n", to: dir + "/c.jsonl")
        let notObject = #expect(throws: ReckonError.self) { _ = try TableDiff.compare(dir + "/a.jsonl", dir + "/b.jsonl", keys: ["k"], spillFolder: dir) }
        #expect(notObject?.code == .badData && notObject?.position?.file == dir + "/b.jsonl" && notObject?.position?.line == 3)
        let notJSON = #expect(throws: ReckonError.self) { _ = try TableDiff.compare(dir + "/a.jsonl", dir + "/c.jsonl", keys: ["k"], spillFolder: dir) }
        #expect(notJSON?.code == .badData && notJSON?.position?.file == dir + "/c.jsonl" && notJSON?.position?.line == 2)
        let noKey = #expect(throws: ReckonError.self) { _ = try TableDiff.compare(dir + "/a.jsonl", dir + "/a.jsonl", keys: ["id"], spillFolder: dir) }
        #expect(noKey?.code == .usage && noKey?.message.contains("key column id") == true && noKey?.position?.file == dir + "/a.jsonl")
        let clean = try TableDiff.compare(dir + "/a.jsonl", dir + "/a.jsonl", keys: ["k"], spillFolder: dir)
        #expect(clean.isEqual && clean.rowsA == 1 && clean.rowsB == 1)
        // The transcoded tables were unnamed temporary files: nothing hidden is left, whatever the outcome.
        #expect(try FileSystem.files(under: dir, includeHidden: true).filter { FileSystem.lastComponent(of: $0).hasPrefix(".") }.isEmpty)
    }
}

/// A small seeded generator (SplitMix64) for reproducible random tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
