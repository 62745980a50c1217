import Foundation
import Testing
import ReckonCore

@Suite("Rollups: span → execution → agent → workspace, and unit economics", .serialized)
struct RollupTests {
    static let log = """
    {"timestamp":"2026-10-05T08:00:00Z","provider":"openai","billing_account":"org_R","model":"gpt-4o","input_tokens":1000000,"execution_id":"e1","span_id":"s1","agent":"triage","tags":{"team":"support","feature":"faq"}}
    {"timestamp":"2026-10-05T08:00:01Z","provider":"openai","billing_account":"org_R","model":"gpt-4o","output_tokens":100000,"execution_id":"e1","span_id":"s2","parent_span_id":"s1","agent":"triage","tags":{"team":"support","feature":"faq"}}
    {"timestamp":"2026-10-05T09:00:00Z","provider":"openai","billing_account":"org_R","model":"gpt-4o","input_tokens":2000000,"execution_id":"e2","span_id":"s3","agent":"drafter","tags":{"team":"support","feature":"draft-reply"}}
    {"timestamp":"2026-10-06T09:00:00Z","provider":"openai","billing_account":"org_R","model":"gpt-4o","input_tokens":400000}

    """

    static func table(_ path: String) throws -> [[String]] {
        try Jobs.read(path).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    @Test func costsRollUpExactly() throws {
        let dir = Jobs.tempDir("rollup")
        try Jobs.write(Self.log, to: dir + "/usage/gateway.jsonl")
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/openai.csv", toPath: dir + "/ratecards/openai.csv")
        let out = Jobs.tempDir("rollup-out")
        let r = try Jobs.nightly(input: dir, output: out)
        #expect(r.status == 0, "\(r.stderr)")
        let folder = out + "/rollups/billing_period=2026-10/"
        #expect(try Self.table(folder + "spans.csv") == [
            ["billing_account", "sub_account", "agent", "execution_id", "span_id", "parent_span_id", "cost", "requests"],
            ["org_R", "", "drafter", "e2", "s3", "", "5.0", "1"],
            ["org_R", "", "triage", "e1", "s1", "", "2.5", "1"],
            ["org_R", "", "triage", "e1", "s2", "s1", "1.0", "1"],
        ])
        #expect(try Self.table(folder + "executions.csv").dropFirst().map { [$0[3], $0[4], $0[5], $0[7]] } == [["e2", "5.0", "1", "5.0"], ["e1", "3.5", "2", "1.75"]])
        #expect(try Self.table(folder + "agents.csv").dropFirst().map { [$0[2], $0[3], $0[4], $0[6]] } == [["drafter", "5.0", "1", "5.0"], ["triage", "3.5", "1", "3.5"]])
        #expect(try Self.table(folder + "workspaces.csv").dropFirst().map { Array($0[2...]) } == [["9.5", "2", "4", "2.375"]])
        // Unit economics: draft-reply costs 5.00 an execution, FAQ 3.50.
        #expect(try Self.table(folder + "tags.csv").dropFirst().map { [$0[1], $0[2], $0[3], $0[7]] } == [
            ["(untagged)", "", "1.0", ""], ["feature", "draft-reply", "5.0", "5.0"], ["feature", "faq", "3.5", "3.5"], ["team", "support", "8.5", "4.25"],
        ])
        let jsonl = try Jobs.read(folder + "tags.jsonl")
        #expect(jsonl.contains("{\"billing_account\":\"org_R\",\"tag\":\"team\",\"value\":\"support\",\"cost\":8.5,\"requests\":3,\"executions\":2,\"cost_per_request\":2.833333,\"cost_per_execution\":4.25}"))
    }
}
