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
        // Two budgets, two violations, and support's move from gpt-4o-mini to gpt-4o on the 5th (a model upgrade).
        #expect(alerts.count == 5)
        #expect(alerts[4].hasPrefix("{\"kind\":\"anomaly_model_upgrade\"") && alerts[4].contains("\"day\":\"2026-10-05\""))
        #expect(alerts[0].hasPrefix("{\"kind\":\"budget_breach\""))
        let md = try Jobs.read(out + "/reports/billing_period=2026-10/reconciliation.md")
        #expect(md.contains("| team | support | 10.00 | 14.00 | 1.4 | 43.40 | breach |"))
        #expect(md.contains("| support | gpt-4o | 12.50 | model not on the team's allow list |"))
        // For cron: a breach fails the run only when asked.
        #expect(try Jobs.run("reckon-reconcile", ["--input", dir, "--output", out, "--fail-on-breach"]).status == 1)
        #expect(try Jobs.run("reckon-reconcile", ["--input", dir, "--output", out]).status == 0)
    }

    /// A generated October: steady traffic for three teams, then one incident each — search spends
    /// $15 more on the 15th, support moves to gpt-4o on the 20th, and one agents user loops on the 25th.
    static func generatedMonth() -> String {
        var csv = "timestamp,provider,billing_account,model,input_tokens,tag.team,tag.user\n"
        func add(_ day: Int, _ k: Int, _ model: String, _ tokens: Int, _ team: String, _ user: String) {
            let second = k % 60, minute = (k / 60) % 60, hour = k / 3600
            csv += Jobs.october(day: day, hour: hour, minute: minute, second: second) + ","
            csv += "openai,org_G,\(model),\(tokens),\(team),\(user)\n"
        }
        for day in 1...28 {
            var k = 0
            for r in 0..<10 { add(day, k, day >= 20 ? "gpt-4o" : "gpt-4o-mini", 100_000, "support", "s\(r % 5)"); k += 1 }
            for r in 0..<20 { add(day, k, "gpt-4o-mini", 200_000, "search", "q\(r % 10)"); k += 1 }
            if day == 15 { for _ in 0..<10 { add(day, k, "gpt-4o-mini", 10_000_000, "search", "q0"); k += 1 } }
            for r in 0..<10 { add(day, k, "gpt-4o-mini", 1_000, "agents", r % 5 == 0 ? "u-bot" : "a\(r % 5)"); k += 1 }
            if day == 25 { for _ in 0..<800 { add(day, k, "gpt-4o-mini", 1_000, "agents", "u-bot"); k += 1 } }
        }
        return csv
    }

    @Test func eachAnomalyKindAndAPolicyViolationAreFoundInAGeneratedMonth() throws {
        let dir = Jobs.tempDir("anomalies")
        try Jobs.write(Self.generatedMonth(), to: dir + "/usage/export.csv")
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/openai.csv", toPath: dir + "/ratecards/openai.csv")
        try Jobs.write("setting,value\ntag_keys,team\n", to: dir + "/anomalies.csv")
        try Jobs.write("team,rule,model\nsupport,allow,gpt-4o-mini\n", to: dir + "/policies.csv")
        // Thresholds as configured: agents warn at half their budget; search breaches at 90%.
        try Jobs.write("scope,value,monthly_budget,currency,warn_at,breach_at\nteam,agents,0.30,USD,0.5,1.0\nteam,search,35,USD,0.8,0.9\n",
                       to: dir + "/budgets.csv")
        let out = Jobs.tempDir("anomalies-out")
        let r = try Jobs.nightly(input: dir, output: out)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONParser.parse(Array(Jobs.read(out + "/reports/billing_period=2026-10/reconciliation.json").utf8))
        let budgets = try #require(report["budgets"]?.array)
        // agents: 28 days × 10 × 1k tokens + 800 × 1k at $0.15/M = 0.162 (54%); search: 28 × 0.60 + 15 = 31.8 (90.86%).
        #expect(budgets.map { "\($0["value"]!.string!) \($0["spend"]!.decimal!) \($0["share"]!.string!) \($0["status"]!.string!)" }
                == ["agents 0.162 0.54 warning", "search 31.8 0.9086 breach"])
        let anomalies = try #require(report["anomalies"]?.array)
        #expect(anomalies.map { "\($0["day"]!.string!) \($0["kind"]!.string!) \($0["value"]!.string!)" }
                == ["2026-10-15 spike search", "2026-10-20 model_upgrade support", "2026-10-25 runaway_loop agents"])
        // Search: 20 × 200k + 10 × 10M tokens at $0.15 per million against 7 days of $0.60.
        #expect(anomalies[0]["spend"]?.decimal == "15.6" && anomalies[0]["baseline"]?.decimal == "0.6" && anomalies[0]["ratio"]?.decimal == 26)
        #expect(anomalies[0]["baseline_from"]?.string == "2026-10-08" && anomalies[0]["baseline_through"]?.string == "2026-10-14")
        // Support: every input token moved from gpt-4o-mini ($0.15) to gpt-4o ($2.50).
        #expect(anomalies[1]["from_model"]?.string == "gpt-4o-mini" && anomalies[1]["to_model"]?.string == "gpt-4o")
        #expect(anomalies[1]["from_input_price_per_million"]?.decimal == "0.15" && anomalies[1]["to_input_price_per_million"]?.decimal == "2.5")
        #expect(anomalies[1]["price_ratio"]?.decimal == "16.67" && anomalies[1]["share_of_input_tokens"]?.decimal == 1)
        // Agents: 810 requests against 10 a day, still 5 distinct users; u-bot made 802 of them.
        #expect(anomalies[2]["requests"] == .number("810") && anomalies[2]["baseline_requests"]?.decimal == 10)
        #expect(anomalies[2]["distinct_users"] == .number("5") && anomalies[2]["top_user"]?.string == "u-bot")
        #expect(anomalies[2]["top_user_requests"] == .number("802"))
        // The move to gpt-4o is also against support's allow list: 9 days × 10 × 100k tokens × $2.50/M.
        let violations = try #require(report["policy_violations"]?.array)
        #expect(violations.map { "\($0["team"]!.string!) \($0["model"]!.string!) \($0["cost"]!.string!) \($0["first_seen"]!.string!)" }
                == ["support gpt-4o 22.5 2026-10-20T00:00:00Z"])
        let alerts = try Jobs.read(out + "/reports/billing_period=2026-10/alerts.jsonl").split(separator: "\n")
        #expect(alerts.map { $0.split(separator: "\"")[3] }
                == ["budget_warning", "budget_breach", "policy_violation", "anomaly_spike", "anomaly_model_upgrade", "anomaly_runaway_loop"])
        let md = try Jobs.read(out + "/reports/billing_period=2026-10/reconciliation.md")
        #expect(md.contains("| 2026-10-25 | runaway_loop | team=agents | 810 requests against a baseline of 10"))
        // The audit trail records the run, the violation and each anomaly once; a rerun adds only its run.
        func actions() throws -> [Substring] { try Jobs.read(out + "/audit/audit.jsonl").split(separator: "\n").map { $0.split(separator: "\"")[9] } }
        // (a budget warning is reported, not audited; the breach is).
        #expect(try actions() == ["run", "budget_breach", "policy_violation", "anomaly_spike", "anomaly_model_upgrade", "anomaly_runaway_loop"])
        #expect(try Jobs.nightly(input: dir, output: out).status == 0)
        #expect(try actions().count == 7 && actions().last == "run")
        #expect(try Jobs.run("reckon-load", ["verify-audit", "--output", out]).status == 0)
    }
}
