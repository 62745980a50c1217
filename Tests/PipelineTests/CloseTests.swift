import Foundation
import Testing
import ReckonCore
import ReckonLoad
import ReckonFocus

@Suite("Month-end close, verify and the audit trail", .serialized)
struct CloseTests {
    @Test func closeIsRefusedOutOfToleranceAcceptedWithAReasonAndFrozen() throws {
        let dir = try Jobs.samplesCopy("close-in")
        let out = Jobs.tempDir("close")
        #expect(try Jobs.nightly(input: dir, output: out).status == 0)
        let args = ["--input", dir, "--output", out, "--period", "2026-10"]

        // Out of tolerance (no taxes.csv here: VAT is not in the estimate): refused, exit 1, nothing written.
        let refused = try Jobs.run("reckon-load", ["close"] + args)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("cannot close 2026-10: Anthropic org_01JX8ACME4Q2: over (variance 222.02)"))
        #expect(!FileManager.default.fileExists(atPath: out + "/closed/billing_period=2026-10/manifest.json"))

        // Accepted with a reason: closed, recorded.
        #expect(try Jobs.run("reckon-load", ["close"] + args + ["--accept", "VAT 20% is not in the estimate"]).status == 0)
        let manifest = try JSONParser.parse(Array(Jobs.read(out + "/closed/billing_period=2026-10/manifest.json").utf8))
        #expect(manifest["accepted"]?.string == "VAT 20% is not in the estimate")
        #expect((manifest["outputs"]?.array?.count ?? 0) >= 10)
        #expect(manifest["row_counts"]?["estimated_rows"] == .number("1210"))
        #expect(try Jobs.run("reckon-load", ["verify"] + args).status == 0)

        // A closed period is never rewritten: new usage arrives, the published files stay as signed off,
        // and the difference is a Correction in the next open period (November).
        let csvPath = out + "/focus/estimated/billing_period=2026-10/part-00000.csv"
        let signed = try Jobs.read(csvPath)
        let signedReport = try Jobs.read(out + "/reports/billing_period=2026-10/reconciliation.json")
        let page = dir + "/usage/provider=anthropic/billing_account=org_01JX8ACME4Q2/messages-2026-10-page-1.json"
        try Jobs.read(page).replacingOccurrences(of: "401235", with: "401999").write(toFile: page, atomically: true, encoding: .utf8)
        #expect(try Jobs.nightly(input: dir, output: out).status == 0)
        #expect(try Jobs.read(csvPath) == signed)
        #expect(try Jobs.read(out + "/reports/billing_period=2026-10/reconciliation.json") == signedReport)
        #expect(try Jobs.run("reckon-load", ["verify"] + args).status == 0)
        let november = try FocusReader.rows(inJSONL: out + "/focus/estimated/billing_period=2026-11/part-00000.jsonl")
        // 764 more Sonnet 4.5 input tokens on 1 October at $3 per million, and the estimate's rounding
        // to the cent moving with it (the net now rounds to 1170.18 still: −0.002292).
        #expect(november.map { "\($0[.chargeClass].string ?? "-") \($0[.chargeCategory].string!) \($0[.consumedQuantity].decimal?.description ?? "-") \($0[.billedCost].decimal!)" }
                == ["Correction Usage 764.0 0.002292", "Correction Adjustment - -0.002292"])
        let correction = try #require(november.first)
        #expect(correction[.chargePeriodStart] == .dateTime(Timestamp(rfc3339: "2026-10-01T00:00:00Z")!))
        #expect(correction[.billingPeriodStart] == .dateTime(Timestamp(rfc3339: "2026-11-01T00:00:00Z")!))
        #expect(correction[.listCost].decimal == correction[.listUnitPrice].decimal! * correction[.pricingQuantity].decimal!)
        var novemberReport = try JSONParser.parse(Array(Jobs.read(out + "/reports/billing_period=2026-11/reconciliation.json").utf8))
        #expect(novemberReport["accounts"]?.array?.first?["estimated_corrections"]?.decimal == 0)

        // An October invoice that arrives after the close: all its rows are Corrections in November,
        // and they still add up to its amount due.
        let late = dir + "/invoices/provider=openai/OAI-2026-10-7790.xml"
        try Jobs.read(dir + "/invoices/provider=openai/OAI-2026-10-7781.xml").replacingOccurrences(of: "OAI-2026-10-7781", with: "OAI-2026-10-7790")
            .write(toFile: late, atomically: true, encoding: .utf8)
        #expect(try Jobs.nightly(input: dir, output: out).status == 0)
        #expect(try Jobs.read(csvPath) == signed)
        let lateRows = try FocusReader.rows(inJSONL: out + "/focus/invoiced/billing_period=2026-11/part-00000.jsonl")
        // (its zero-rated 0.00 VAT row corrects nothing and is not repeated)
        #expect(lateRows.count == 10 && lateRows.allSatisfy { $0[.invoiceId] == .string("OAI-2026-10-7790") && $0[.chargeClass] == .string("Correction") })
        #expect(lateRows.compactMap { $0[.billedCost].decimal }.sum() == "202.00")
        novemberReport = try JSONParser.parse(Array(Jobs.read(out + "/reports/billing_period=2026-11/reconciliation.json").utf8))
        let openai = try #require(novemberReport["accounts"]?.array?.first { $0["provider"]?.string == "OpenAI" })
        #expect(openai["invoiced"]?.decimal == "202.00" && openai["invoice_ids"] == .array([.string("OAI-2026-10-7790")]))
        try FileManager.default.removeItem(atPath: late)

        // One changed byte is found and named.
        try (signed.replacingOccurrences(of: "Claude API", with: "Claude APl")).write(toFile: csvPath, atomically: true, encoding: .utf8)
        let broken = try Jobs.run("reckon-load", ["verify"] + args)
        #expect(broken.status == 65)
        #expect(try Jobs.runStdout("reckon-load", ["verify"] + args)
            .contains("focus/estimated/billing_period=2026-10/part-00000.csv: changed (SHA-256 differs from the manifest)"))
        try signed.write(toFile: csvPath, atomically: true, encoding: .utf8)

        // Reopen is the only way back, and it is audited.
        #expect(try Jobs.run("reckon-load", ["reopen"] + args + ["--reason", "late credit note"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: out + "/closed/billing_period=2026-10/manifest.json"))
        // Runs are audited too: run, close_accepted, run (the late usage), reopen.
        let audit = try Jobs.read(out + "/audit/audit.jsonl").split(separator: "\n")
        #expect(audit.map { $0.split(separator: "\"")[9] } == ["run", "close_accepted", "run", "run", "reopen"])
        #expect(audit[2].contains("\"periods\":[\"2026-09\",\"2026-11\"]"))
        #expect(try Jobs.run("reckon-load", ["verify-audit", "--output", out]).status == 0)
    }

    @Test func theAuditTrailNamesEditedRemovedAndReorderedEntries() throws {
        let out = Jobs.tempDir("audit")
        let trail = AuditTrailFixture(out: out)
        for k in 1...3 { try trail.append(k) }
        #expect(try Jobs.run("reckon-load", ["verify-audit", "--output", out]).status == 0)
        let lines = try Jobs.read(out + "/audit/audit.jsonl").split(separator: "\n").map(String.init)

        func check(_ text: [String], _ expected: String) throws {
            try (text.joined(separator: "\n") + "\n").write(toFile: out + "/audit/audit.jsonl", atomically: true, encoding: .utf8)
            let r = try Jobs.run("reckon-load", ["verify-audit", "--output", out])
            #expect(r.status == 65)
            #expect(r.stderr.contains("the audit trail is broken"))
            let shown = try Jobs.runStdout("reckon-load", ["verify-audit", "--output", out])
            #expect(shown.contains(expected), "\(shown)")
        }
        try check([lines[0], lines[1].replacingOccurrences(of: "\"n\":2", with: "\"n\":20"), lines[2]], "line 2 (seq 2): its content does not match its hash")
        try check([lines[0], lines[2]], "line 2: entry seq 3 where 2 was expected")
        try check([lines[1], lines[0], lines[2]], "line 1: entry seq 2 where 1 was expected")
    }
}

/// Writes audit entries through the library, as the jobs do.
struct AuditTrailFixture {
    let out: String
    func append(_ n: Int) throws {
        try AuditTrail(path: out + "/audit/audit.jsonl").append(action: "test", period: BillingPeriod("2026-10"), details: [("n", .number(String(n)))])
    }
}
