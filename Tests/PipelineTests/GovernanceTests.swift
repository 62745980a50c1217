import Foundation
import Testing
import ReckonCore

@Suite("Budgets and model policies", .serialized)
struct GovernanceTests {
    static let usage = """
    timestamp,provider,billing_account,model,input_tokens,tag.team
    2026-10-01T10:00:00Z,openai,org_G,gpt-4o,2000000,support
    2026-10-02T10:00:00Z,openai,org_G,gpt-4o-mini,10000000,support
    2026-10-05T10:00:00Z,openai,org_G,gpt-4o,3000000,support
    2026-10-03T10:00:00Z,openai,org_G,gpt-4o-mini,20000000,search
    2026-10-10T10:00:00Z,openai,org_G,gpt-4o-mini,20000000,search
    2026-10-04T10:00:00Z,anthropic,org_A,claude-opus-4-5,1000000,search

    """

    @Test func breachesForecastsAndViolationsAreReportedWithEvidence() throws {
        let dir = Jobs.tempDir("gov")
        try Jobs.write(Self.usage, to: dir + "/usage/export.csv")
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        for card in ["openai", "anthropic"] {
            try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/\(card).csv", toPath: dir + "/ratecards/\(card).csv")
        }
        try Jobs.write("scope,value,monthly_budget,currency,warn_at,breach_at\nteam,support,10,USD,0.8,1.0\nteam,search,15,USD,0.8,1.0\n",
                       to: dir + "/budgets.csv")
        try Jobs.write("team,rule,model\nsupport,allow,gpt-4o-mini\nsearch,deny,claude-opus*\n", to: dir + "/policies.csv")
        let out = Jobs.tempDir("gov-out")
        let r = try Jobs.nightly(input: dir, output: out)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONParser.parse(Array(Jobs.read(out + "/reports/billing_period=2026-10/reconciliation.json").utf8))
        let budgets = try #require(report["budgets"]?.array)
        #expect(budgets.map { "\($0["value"]!.string!) \($0["spend"]!.string!) \($0["share"]!.string!) \($0["forecast"]!.string!) \($0["status"]!.string!)" }
                == ["support 14.0 1.4 43.4 breach", "search 11.0 0.7333 34.1 forecast_breach"])  // 10 days of data: ×31/10
        let violations = try #require(report["policy_violations"]?.array)
        #expect(violations.map { "\($0["team"]!.string!) \($0["model"]!.string!) \($0["cost"]!.string!) \($0["first_seen"]!.string!) \($0["last_seen"]!.string!)" }
                == ["search claude-opus-4-5 5.0 2026-10-04T00:00:00Z 2026-10-05T00:00:00Z",
                    "support gpt-4o 12.5 2026-10-01T00:00:00Z 2026-10-06T00:00:00Z"])
        let alerts = try Jobs.read(out + "/reports/billing_period=2026-10/alerts.jsonl").split(separator: "\n")
        #expect(alerts.count == 4)
        #expect(alerts[0].hasPrefix("{\"kind\":\"budget_breach\""))
        let md = try Jobs.read(out + "/reports/billing_period=2026-10/reconciliation.md")
        #expect(md.contains("| team | support | 10.00 | 14.00 | 1.4 | 43.40 | breach |"))
        #expect(md.contains("| support | gpt-4o | 12.50 | model not on the team's allow list |"))
        // For cron: a breach fails the run only when asked.
        #expect(try Jobs.run("reckon-reconcile", ["--input", dir, "--output", out, "--fail-on-breach"]).status == 1)
        #expect(try Jobs.run("reckon-reconcile", ["--input", dir, "--output", out]).status == 0)
    }
}
