import Foundation
import Testing
import ReckonCore

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
        let dir = Jobs.tempDir("since")
        for sub in ["usage", "invoices", "ratecards"] {
            try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/" + sub, toPath: dir + "/" + sub)
        }
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
}
