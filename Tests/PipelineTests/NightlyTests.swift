import Foundation
import Testing
import ReckonCore
import ReckonFocus

@Suite("Nightly pipeline on Samples (end to end, built executables)", .serialized)
struct NightlyTests {
    static let period = "billing_period=2026-10"

    @Test func samplesMonthProducesExactDatasetsAndReport() throws {
        let out = Jobs.tempDir("samples")
        let r = try Jobs.nightly(input: "Samples", output: out)
        #expect(r.status == 0, "\(r.stderr)")

        let allEstimated = try FocusReader.rows(inJSONL: out + "/focus/estimated/\(Self.period)/part-00000.jsonl")
        let allInvoiced = try FocusReader.rows(inJSONL: out + "/focus/invoiced/\(Self.period)/part-00000.jsonl")
        // Every invoice adds up to its amount due; the credit note for September is a Correction.
        var byInvoice: [String: ExactDecimal] = [:]
        for row in allInvoiced { byInvoice[row[.invoiceId].string!, default: .zero] += row[.billedCost].decimal! }
        #expect(byInvoice == ["ANT-2026-10-0042": "1404.20", "ANT-CN-2026-10-0007": "-12.00", "OAI-2026-10-7781": "202.00"])
        #expect(allInvoiced.filter { $0[.invoiceId] == .string("ANT-CN-2026-10-0007") }.allSatisfy { $0[.chargeClass] == .string("Correction") })
        #expect(Set(allInvoiced.compactMap { $0[.chargeCategory].string }) == ["Usage", "Purchase", "Tax", "Credit", "Adjustment"])
        // PromptLayer plan fees (pro then team, prorated) are estimated Purchase rows.
        #expect(allEstimated.filter { $0[.chargeCategory] == .string("Purchase") }.compactMap { $0[.billedCost].decimal } == ["23.71", "258.06", "51.62"])

        // The Anthropic organisation: usage × rate card and its invoice.
        let anthropic = allEstimated.filter { $0[.billingAccountId] == .string("org_01JX8ACME4Q2") }
        let estimated = anthropic.filter { $0[.chargeCategory] == .string("Usage") && $0[.chargeClass] == .null }
        let invoiced = allInvoiced.filter { $0[.invoiceId] == .string("ANT-2026-10-0042") }
        #expect(estimated.count == 960)
        #expect(invoiced.count == 18)

        // Estimated usage = usage × rate card, exact.
        let usageTotal = estimated.compactMap { $0[.billedCost].decimal }.sum()
        #expect(usageTotal == "1170.1779018")
        #expect(estimated.allSatisfy { $0[.invoiceId] == .null })
        #expect(estimated.allSatisfy { $0[.listCost].decimal == $0[.listUnitPrice].decimal! * $0[.pricingQuantity].decimal! })
        // What the invoice adds, estimated (taxes.csv): the net rounded to the cent, VAT 20% on it.
        let document = anthropic.filter { $0[.chargeCategory] != .string("Usage") && $0[.chargeClass] == .null }
        #expect(document.map { "\($0[.chargeCategory].string!) \($0[.billedCost].decimal!)" } == ["Adjustment 0.0020982", "Tax 234.04"])
        // Late usage of 30 September (closed in the ledger, closed_periods.csv): Corrections in October,
        // with their own rounding and VAT, charge period September.
        let late = anthropic.filter { $0[.chargeClass] == .string("Correction") }
        #expect(late.map { "\($0[.chargeCategory].string!) \($0[.billedCost].decimal!)" }
                == ["Usage 0.04406", "Usage 0.05136", "Usage 0.61845", "Usage 0.723075", "Adjustment 0.003055", "Tax 0.29"])
        #expect(late.allSatisfy { $0[.chargePeriodStart] == .dateTime(Timestamp(rfc3339: "2026-09-30T00:00:00Z")!) || $0[.chargePeriodStart] == .dateTime(Timestamp(rfc3339: "2026-09-01T00:00:00Z")!) && $0[.billingPeriodStart] == .dateTime(Timestamp(rfc3339: "2026-10-01T00:00:00Z")!) })
        #expect(late.first?[.consumedQuantity].decimal == 88120)
        let estimatedTotal = anthropic.compactMap { $0[.billedCost].decimal }.sum()
        #expect(estimatedTotal == "1405.95")
        // Both datasets hold all five charge categories and a Correction.
        #expect(Set(allEstimated.compactMap { $0[.chargeCategory].string }) == ["Usage", "Purchase", "Tax", "Credit", "Adjustment"])
        #expect(allEstimated.contains { $0[.chargeClass] == .string("Correction") })

        // Invoiced: Σ BilledCost per InvoiceId = the invoice's amount due.
        #expect(invoiced.compactMap { $0[.billedCost].decimal }.sum() == "1404.20")
        let tax = try #require(invoiced.first { $0[.chargeCategory] == .string("Tax") })
        #expect(tax[.billedCost].decimal == "234.03" && tax[.effectiveCost].decimal == "234.03")
        #expect(tax[.listCost].decimal == "234.03" && tax[.contractedCost].decimal == "234.03")
        for c in [FocusColumn.pricingQuantity, .pricingUnit, .listUnitPrice, .contractedUnitPrice, .pricingCategory, .skuId, .skuPriceId] {
            #expect(tax[c] == .null, "Tax row must have \(c.rawValue) null")
        }
        let sonnetInput = try #require(invoiced.first { $0[.skuId] == .string("anthropic:claude-sonnet-4-5:tokens_input") })
        #expect(sonnetInput[.billedCost].decimal == "250.19")
        #expect(sonnetInput[.listCost].decimal == "250.188726")
        #expect(sonnetInput[.pricingQuantity].decimal == "83.396242" && sonnetInput[.pricingUnit] == .string("1000000 Tokens"))

        // The report's numbers are sums over the datasets.
        let report = try JSONParser.parse(Array(Jobs.read(out + "/reports/\(Self.period)/reconciliation.json").utf8))
        #expect(report["billing_period"]?.string == "2026-10")
        let account = try #require(report["accounts"]?.array?.first)
        #expect(report["accounts"]?.array?.map { $0["provider"]?.string ?? "" } == ["Anthropic", "OpenAI", "PromptLayer"])
        #expect(account["billing_account_id"]?.string == "org_01JX8ACME4Q2")
        #expect(account["invoice_ids"] == .array([.string("ANT-2026-10-0042"), .string("ANT-CN-2026-10-0007")]))
        #expect(account["estimated"]?.decimal == estimatedTotal)
        #expect(account["invoiced"]?.decimal == "1392.20")
        #expect(account["variance"]?.decimal == "-13.75")
        #expect(account["status"]?.string == "under")
        #expect(account["estimated_corrections"]?.decimal == "1.73")
        let bridge = Dictionary(uniqueKeysWithValues: (account["bridge"]?.array ?? []).map { ($0["category"]!.string!, $0["amount"]!.decimal!) })
        // Tax: invoiced 232.03 (October 234.03, less the credit note's 2.00) less estimated 234.04; the
        // September refund as credit; the invoice bills all 1,778 web searches on the Sonnet line, the
        // estimate has them per model (577 Sonnet, 660 Haiku, 541 Opus at $0.01); the late September
        // usage (1.73) is billed on no October line; lines and the estimate rounded to the cent.
        #expect(bridge == ["tax": "-2.01", "credit": "-10.00", "quantity": "12.01", "unmatched_usage": "-13.74",
                           "rounding": "-0.0100000", "unexplained": 0])
        #expect(bridge.values.sum() == account["variance"]?.decimal)
        let skus = try #require(account["skus"]?.array)
        #expect(skus.count == 17)
        let search = try #require(skus.first { $0["sku_id"]?.string == "anthropic:claude-sonnet-4-5:web_search_requests" })
        #expect(search["estimated_quantity"]?.decimal == 577 && search["invoiced_quantity"]?.decimal == 1778)
        #expect(search["bridge"] == .array([.object([("category", .string("quantity")), ("amount", .string("12.01"))])]))
        let csvReport = try Jobs.read(out + "/reports/\(Self.period)/reconciliation.csv").split(separator: "\n")
        #expect(csvReport.first == "billing_period,provider,billing_account_id,currency,sku_id,category,amount")
        #expect(csvReport.contains("2026-10,Anthropic,org_01JX8ACME4Q2,USD,anthropic:claude-opus-4-5:web_search_requests,unmatched_usage,-5.41"))
        #expect(csvReport.contains("2026-10,Anthropic,org_01JX8ACME4Q2,USD,,tax,-2.01"))
        #expect(csvReport.contains("2026-10,Anthropic,org_01JX8ACME4Q2,USD,,unmatched_usage,-1.73"))
        // The account's amounts in the CSV add up to its variance.
        #expect(csvReport.dropFirst().filter { $0.contains(",org_01JX8ACME4Q2,") }
            .compactMap { ExactDecimal($0.split(separator: ",", omittingEmptySubsequences: false).last!) }.sum() == account["variance"]?.decimal)
        // OpenAI: the missing batch discount is a price difference; the zero-rated support line has no usage.
        let openai = try #require(report["accounts"]?.array?[1])
        var openaiBridge: [String: ExactDecimal] = [:]
        for b in openai["bridge"]?.array ?? [] { openaiBridge[b["category"]!.string!] = b["amount"]!.decimal! }
        // The $25 promotional credit was expected (credits.csv): no credit difference; tax differs by 20% of the rest.
        #expect(openaiBridge["tax"] == "0.84" && openaiBridge["credit"] == nil && openaiBridge["unmatched_invoice_line"] == 40)
        #expect(openaiBridge["price"].map { $0.rounded(scale: 2, .halfAwayFromZero) } == "4.18")
        #expect(openaiBridge["unexplained"] == 0 && openaiBridge.values.sum() == openai["variance"]?.decimal)
        // PromptLayer's invoice has not arrived: its estimate is to be accrued (fees 333.39, 791
        // requests beyond Pro's 15/31 share of its allowance at $3 per 1,000, rounded to cents).
        #expect(report["accruals"]?.array?.first?["amount"]?.string == "335.76")

        let md = try Jobs.read(out + "/reports/\(Self.period)/reconciliation.md")
        #expect(md.contains("| Anthropic | org_01JX8ACME4Q2 (Acme Analytics Ltd) | USD | ANT-2026-10-0042, ANT-CN-2026-10-0007 | 1405.95 | 1392.20 | -13.75 | under |"))
        #expect(md.contains("| anthropic:claude-sonnet-4-5:web_search_requests | 577.0 | 1778.0 | 5.77 | 17.78 | quantity 12.01 |"))

        // CSV: header + rows, nulls as empty unquoted fields, decimals with a fractional part.
        let csv = try Jobs.read(out + "/focus/invoiced/\(Self.period)/part-00000.csv").split(separator: "\n")
        #expect(csv.count == allInvoiced.count + 1)
        #expect(csv[0].hasPrefix("BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,"))
        #expect(!csv.joined().contains("\"\""[...]) || csv.allSatisfy { !$0.contains(",\"\",") })
        let taxLine = try #require(csv.first { $0.hasPrefix("234.03,") })
        #expect(taxLine.contains(",Tax,,VAT S 20%,One-Time,"))

        // The fast byte writer writes exactly what the JSON model says.
        let lines = try Jobs.read(out + "/focus/estimated/\(Self.period)/part-00000.jsonl").split(separator: "\n")
        for (line, row) in zip(lines, allEstimated).prefix(200) { #expect(String(line) == JSONWriter.write(row.json)) }

        // Every stage's manifest balances.
        for stage in ["extract", "transform", "reconcile", "load"] {
            let m = try JSONParser.parse(Array(Jobs.read(out + "/staging/\(stage)/manifest.json").utf8))
            #expect(m["totals"]?["balanced"] == .bool(true), "\(stage)")
        }
        let ex = try JSONParser.parse(Array(Jobs.read(out + "/staging/extract/manifest.json").utf8))
        // 3,315 usage records, invoices and costs, plus 31 daily dataset-storage readings.
        #expect(ex["totals"]?["rows_read"] == .number("3346") && ex["totals"]?["rows_quarantined"] == .number("0"))
        // Storage is a level: one row per plan for the month's peak (Pro 195.5 MB: 150 within its cap,
        // 45.5 above it; Team 302.5 MB within 1 GB), and the run summary names the excess.
        let storage = allEstimated.filter { $0[.skuMeter].string == "Dataset Storage (monthly peak)" }
            .map { "\($0[.xModel].string!) \($0[.consumedQuantity].decimal!) \($0[.xChargeSubType].string ?? "")" }.sorted()
        #expect(storage == ["pro 150.0 Included allowance", "pro 45.5 Above plan cap", "team 302.5 Included allowance"])
        #expect(try Jobs.read(out + "/staging/transform/manifest.json")
            .contains("2026-10: promptlayer cus_Acme42 dataset_storage peaked at 195.5 MB, above the pro plan's cap of 150 MB"))
        // The reconciliation names it too, and raises an alert.
        #expect(try Jobs.read(out + "/reports/\(Self.period)/reconciliation.md")
            .contains("| PromptLayer | cus_Acme42 | promptlayer:pro:dataset_storage | 150.0 | 45.5 |"))
        #expect(try Jobs.read(out + "/reports/\(Self.period)/alerts.jsonl").contains("\"kind\":\"plan_cap_exceeded\""))
    }

    @Test func focusColumnIndexesMatchTheirOrder() {
        for (k, c) in FocusColumn.allCases.enumerated() { #expect(c.index == k, "\(c.rawValue)") }
    }

    @Test func sameInputsGiveByteIdenticalOutputs() throws {
        let a = Jobs.tempDir("det-a"), b = Jobs.tempDir("det-b")
        #expect(try Jobs.nightly(input: "Samples", output: a).status == 0)
        #expect(try Jobs.nightly(input: "Samples", output: b).status == 0)
        // Outputs are the visible files (the hidden lock file holds the pid of the last run).
        // The audit trail is a log with the time of each run, not an output.
        let visible = { (dir: String) in Jobs.files(under: dir).filter { !FileSystem.lastComponent(of: $0).hasPrefix(".") && !$0.hasPrefix("audit/") } }
        let filesA = visible(a), filesB = visible(b)
        #expect(filesA == filesB)
        #expect(filesA.count == 64)  // includes staging (extract's staged records and its list of repeats too), with the closed September (its corrections go to October)
        for f in filesA {
            #expect(FileManager.default.contents(atPath: a + "/" + f) == FileManager.default.contents(atPath: b + "/" + f), "\(f)")
        }
        // A rerun over the same folder rewrites the same bytes.
        let before = try Jobs.read(a + "/focus/estimated/\(Self.period)/part-00000.csv")
        #expect(try Jobs.nightly(input: "Samples", output: a).status == 0)
        #expect(try Jobs.read(a + "/focus/estimated/\(Self.period)/part-00000.csv") == before)
    }
}

@Suite("Bad input: clear errors, nothing lost", .serialized)
struct BadInputTests {
    static func input(with usage: [String: String]) throws -> String {
        let dir = Jobs.tempDir("in")
        for (name, text) in usage {
            try Jobs.write(text, to: dir + "/usage/provider=anthropic/billing_account=org_T/" + name)
        }
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/anthropic.csv", toPath: dir + "/ratecards/anthropic.csv")
        return dir
    }

    static let good = """
    {"data": [{"starting_at": "2026-10-05T00:00:00Z", "ending_at": "2026-10-06T00:00:00Z", "results": [
      {"uncached_input_tokens": 1000000, "output_tokens": 200000, "model": "claude-sonnet-4-5-20250929", "workspace_id": "w1"},
      {"uncached_input_tokens": 500, "output_tokens": 10, "model": "claude-unknown-9", "workspace_id": "w1"}
    ]}], "has_more": false, "next_page": null}
    """

    @Test func brokenFileIsQuarantinedAndTheThresholdFailsTheRun() throws {
        let dir = try Self.input(with: ["a.json": Self.good, "b.json": "{\"data\": [\n  {\"starting_at\": oops}\n]}"])
        let out = Jobs.tempDir("out")
        let r = try Jobs.run("reckon-extract", ["--input", dir, "--output", out])
        #expect(r.status == 65)
        #expect(r.stderr.contains("1 of 3 records quarantined"))
        let q = try Jobs.read(out + "/staging/extract/quarantine.jsonl")
        #expect(q.contains("b.json\",\"line\":2"))
        #expect(q.contains("not valid JSON"))
        // No manifest: Make will rerun the stage next time.
        #expect(!FileManager.default.fileExists(atPath: out + "/staging/extract/manifest.json"))

        let ok = try Jobs.run("reckon-extract", ["--input", dir, "--output", out, "--max-quarantine-share", "0.5"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.contains("rows_read=3 rows_out=2 rows_quarantined=1 balanced=true"))
    }

    @Test func unknownModelIsUnpricedNeverZero() throws {
        let dir = try Self.input(with: ["a.json": Self.good])
        let out = Jobs.tempDir("out")
        #expect(try Jobs.run("reckon-extract", ["--input", dir, "--output", out]).status == 0)
        let t = try Jobs.run("reckon-transform", ["--input", dir, "--output", out])
        #expect(t.status == 0, "\(t.stderr)")
        #expect(t.stderr.contains("rows_read=4 rows_out=2 rows_quarantined=2"))
        let rows = try FocusReader.rows(at: out + "/staging/transform/estimated/billing_period=2026-10/part-00000.csv")
        #expect(rows.count == 2)
        #expect(rows.compactMap { $0[.billedCost].decimal }.sum() == "6.0")  // 1M × $3 + 0.2M × $15
        #expect(!rows.contains { $0[.xModel] == .string("claude-unknown-9") })
        let q = try Jobs.read(out + "/staging/transform/quarantine.jsonl")
        #expect(q.contains("unpriced_usage: no rate for anthropic claude-unknown-9 tokens_input"))

        // The reconciliation carries it, with its quantities, and shows spend against the ceiling.
        try Jobs.write("provider,billing_account,monthly_limit,label\nanthropic,org_T,100,Tier 1\n", to: dir + "/limits.csv")
        #expect(try Jobs.run("reckon-reconcile", ["--input", dir, "--output", out]).status == 0)
        let report = try JSONParser.parse(Array(Jobs.read(out + "/staging/reconcile/billing_period=2026-10/reconciliation.json").utf8))
        let account = try #require(report["accounts"]?.array?.first)
        let unpriced = try #require(account["unpriced_usage"]?.array)
        #expect(unpriced.map { "\($0["model"]?.string ?? "") \($0["meter"]?.string ?? "") \($0["quantity"]?.decimal ?? 0)" }
                == ["claude-unknown-9 tokens_input 500.0", "claude-unknown-9 tokens_output 10.0"])
        #expect(account["estimated"]?.string == "6.0" && account["status"]?.string == "missing_invoice")
        #expect(account["spend_ceiling"]?["estimated_share"]?.string == "0.06")
        // No invoice yet: the estimate is to be accrued, per team.
        let accrual = try #require(report["accruals"]?.array?.first)
        #expect(accrual["amount"]?.string == "6.0")
        #expect(accrual["by_team"] == .array([.object([("team", .string("(untagged)")), ("amount", .string("6.0"))])]))
        let md = try Jobs.read(out + "/staging/reconcile/billing_period=2026-10/reconciliation.md")
        #expect(md.contains("| claude-unknown-9 | tokens_input | standard | 500.0 | 1 |"))
        #expect(md.contains("Spend ceiling (Tier 1): 100.00 USD; estimated spend is 6.00 (6.0%)."))
    }

    @Test func missingInputAndBadOptionsHaveTheirExitCodes() throws {
        let out = Jobs.tempDir("out")
        #expect(try Jobs.run("reckon-extract", ["--input", "/nonexistent/reckon", "--output", out]).status == 66)
        #expect(try Jobs.run("reckon-transform", ["--input", "Samples", "--output", out, "--period", "2026-13"]).status == 64)
        #expect(try Jobs.run("reckon-reconcile", ["--input", "Samples", "--output", Jobs.tempDir("empty")]).status == 66)
    }

    @Test func genericExportsArePricedFromTheirStagedRecords() throws {
        let dir = try Self.input(with: [:])
        let csv = """
        timestamp,provider,billing_account,model,input_tokens,output_tokens,request_id,tag.team
        2026-10-05T10:00:00Z,anthropic,org_T,claude-sonnet-4-5,1000000,100000,a,search
        2026-10-05T11:00:00Z,anthropic,org_T,claude-sonnet-4-5,1000000,0,a,search
        2026-10-05T12:00:00Z,anthropic,org_T,claude-sonnet-4-5,2000000
        2026-10-06T12:00:00Z,anthropic,org_T,claude-haiku-4-5,1000000,0,b,
        """
        try Jobs.write(csv + "\n", to: dir + "/usage/generic/export.csv")
        let out = Jobs.tempDir("out")
        let e = try Jobs.run("reckon-extract", ["--input", dir, "--output", out, "--max-quarantine-share", "0.5"])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stderr.contains("rows_read=4 rows_out=2 rows_quarantined=2"))
        let t = try Jobs.run("reckon-transform", ["--input", dir, "--output", out])
        #expect(t.status == 0, "\(t.stderr)")
        let rows = try FocusReader.rows(at: out + "/staging/transform/estimated/billing_period=2026-10/part-00000.csv")
        #expect(rows.count == 3)
        #expect(rows.compactMap { $0[.billedCost].decimal }.sum() == "5.5")  // 1M×$3 + 0.1M×$15 + 1M×$1
        let tagged = rows.filter { $0[.tags] != .null }
        #expect(tagged.count == 2 && tagged.allSatisfy { $0[.tags] == .json([("team", .string("search"))]) })

        // The provider's own cost report is the third leg of the reconciliation.
        try Jobs.write("""
        {"data": [{"starting_at": "2026-10-05T00:00:00Z", "ending_at": "2026-10-06T00:00:00Z",
          "results": [{"currency": "USD", "amount": "550.00", "workspace_id": null}]}], "has_more": false, "next_page": null}
        """, to: dir + "/usage/provider=anthropic/billing_account=org_T/cost.json")
        #expect(try Jobs.run("reckon-extract", ["--input", dir, "--output", out, "--max-quarantine-share", "0.5"]).status == 0)
        #expect(try Jobs.run("reckon-transform", ["--input", dir, "--output", out]).status == 0)
        #expect(try Jobs.run("reckon-reconcile", ["--input", dir, "--output", out]).status == 0)
        let report = try JSONParser.parse(Array(Jobs.read(out + "/staging/reconcile/billing_period=2026-10/reconciliation.json").utf8))
        #expect(report["accounts"]?.array?.first?["provider_reported"]?.string == "5.5")

        // The export changes after extract validated it: transform prices what extract staged
        // (the same three rows) until extract runs again.
        try Jobs.write(csv + "2026-10-07T12:00:00Z,anthropic,org_T,claude-haiku-4-5,5000000,0,c,\n", to: dir + "/usage/generic/export.csv")
        #expect(try Jobs.run("reckon-transform", ["--input", dir, "--output", out]).status == 0)
        let staged = try FocusReader.rows(at: out + "/staging/transform/estimated/billing_period=2026-10/part-00000.csv")
        #expect(staged.count == 3 && staged.compactMap { $0[.billedCost].decimal }.sum() == "5.5")

        // Damaged staged records (cut short) are refused with the file and offset, not priced as less usage.
        let records = out + "/staging/extract/usage_records.bin"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: records))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: records))
        let damaged = try Jobs.run("reckon-transform", ["--input", dir, "--output", out])
        #expect(damaged.status == 65)
        #expect(damaged.stderr.contains("usage_records.bin") && damaged.stderr.contains("staged records are damaged"), "\(damaged.stderr)")
    }

    @Test func saasPlansProrateAndIncludedRequestsAreFree() throws {
        let dir = Jobs.tempDir("plans")
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/promptlayer.csv", toPath: dir + "/ratecards/promptlayer.csv")
        try Jobs.write("provider,billing_account,plan,seats,effective_from\npromptlayer,cus_A,pro,1,2026-10-01\npromptlayer,cus_A,team,12,2026-10-16\n",
                       to: dir + "/plans.csv")
        var log = ""
        for i in 0..<3000 {
            let day = i < 2000 ? 1 + i % 15 : 16 + i % 16
            log += "{\"id\": \"r\(i)\", \"request_start_time\": \"2026-10-\(day < 10 ? "0" : "")\(day)T12:00:00Z\", \"workspace_id\": 7, \"status\": \"success\"}\n"
        }
        try Jobs.write(log, to: dir + "/usage/provider=promptlayer/billing_account=cus_A/requests.jsonl")
        let out = Jobs.tempDir("plans-out")
        #expect(try Jobs.run("reckon-extract", ["--input", dir, "--output", out]).status == 0)
        let t = try Jobs.run("reckon-transform", ["--input", dir, "--output", out])
        #expect(t.status == 0, "\(t.stderr)")
        let rows = try FocusReader.rows(at: out + "/staging/transform/estimated/billing_period=2026-10/part-00000.csv")
        let purchases = rows.filter { $0[.chargeCategory] == .string("Purchase") }
        // 49×15/31, 500×16/31, to the cent; 2 seats beyond Team's 10 users at 50×16/31 = 25.81 each.
        #expect(purchases.map { $0[.billedCost].decimal! } == ["23.71", "258.06", "51.62"])
        #expect(purchases.map { $0[.chargeFrequency] } == [.string("Recurring"), .string("Recurring"), .string("Recurring")])
        #expect(purchases[2][.pricingQuantity].decimal == 2 && purchases[2][.listUnitPrice].decimal == "25.81")
        #expect(purchases.allSatisfy { $0[.consumedQuantity] == .null })
        #expect(purchases[1][.chargePeriodStart] == .dateTime(Timestamp(rfc3339: "2026-10-16T00:00:00Z")!))
        let usage = rows.filter { $0[.chargeCategory] == .string("Usage") }
        // Each plan brings its own allowance, prorated by day and rounded down to a whole request:
        // Pro 2,500 × 15/31 = 1,209 (2,000 used: 791 above it at $3 per 1,000); Team 100,000 × 16/31
        // = 51,612 (1,000 used, all included). One month-long pool would have hidden the Pro overage.
        func sum(_ rows: [FocusRow], _ column: FocusColumn) -> ExactDecimal { rows.compactMap { $0[column].decimal }.sum() }
        let free = usage.filter { $0[.xChargeSubType] == .string("Included allowance") }
        #expect(sum(free.filter { $0[.xModel] == .string("pro") }, .consumedQuantity) == 1209)
        #expect(sum(free.filter { $0[.xModel] == .string("team") }, .consumedQuantity) == 1000)
        #expect(free.allSatisfy { $0[.billedCost].decimal == 0 })
        let billable = usage.filter { $0[.xChargeSubType] == .null }
        #expect(billable.allSatisfy { $0[.xModel] == .string("pro") })
        #expect(sum(billable, .consumedQuantity) == 791)
        #expect(sum(billable, .billedCost) == "2.373")
        // 23.71 + 258.06 + 51.62 + 2.373, and the invoice's rounding to cents (-0.003).
        #expect(sum(rows, .billedCost) == "335.76")
        #expect(sum(rows.filter { $0[.chargeCategory] == .string("Adjustment") }, .billedCost) == "-0.003")
        let summary = try Jobs.read(out + "/staging/transform/manifest.json")
        #expect(summary.contains("2026-10: promptlayer cus_A pro plan 15/31 days: 1209 of 2500 logged_requests included"))
        #expect(summary.contains("2026-10: promptlayer cus_A team plan 16/31 days: 51612 of 100000 logged_requests included"))
    }
}
