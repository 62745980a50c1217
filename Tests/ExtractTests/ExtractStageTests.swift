import Foundation
import Logging
import Testing
import ReckonCore
@testable import ReckonExtract

/// The extract stage on hand-made fixtures, good and broken: what is staged, what is quarantined
/// (with file, position and reason), and that the counts balance per file.
@Suite("Extract stage on fixtures")
struct ExtractStageTests {
    struct Run {
        var report: StageReport
        var usage: [UsageRecord]
        var costs: [JSONValue]
        var quarantine: [JSONValue]
        var invoices: [Invoice]
        func counts(_ suffix: String) -> RowCounts? { report.sources.first { $0.file.hasSuffix(suffix) }?.counts }
        func quarantined(_ suffix: String) -> [JSONValue] { quarantine.filter { $0["file"]?.string?.hasSuffix(suffix) == true } }
    }

    static func run(_ fixtures: [String], folder: String = "usage/provider=anthropic/billing_account=org_G",
                    invoices: [String] = [], threshold: ExactDecimal = 1) throws -> Run {
        let root = NSTemporaryDirectory() + "reckon-extract-\(UInt32.random(in: 0...UInt32.max))"
        let dir = root + "/in/" + folder
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in fixtures { try FileManager.default.copyItem(atPath: Fixture.path("usage/" + f), toPath: dir + "/" + f) }
        let invoiceDir = root + "/in/invoices/provider=promptlayer"
        try FileManager.default.createDirectory(atPath: invoiceDir, withIntermediateDirectories: true)
        for f in invoices { try FileManager.default.copyItem(atPath: Fixture.path(f), toPath: invoiceDir + "/" + f) }
        var options = ExtractStage.Options()
        options.maxQuarantineShare = threshold
        let layout = Layout(input: root + "/in", output: root + "/out")
        let report = try ExtractStage(layout: layout, options: options, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })).run()
        func lines(_ path: String) throws -> [JSONValue] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0)) }
        }
        // Records staged as copies, then the generic exports' records read back from the binary
        // staging (skipping the lines extract listed as repeats after reading, as transform does).
        var usage = try lines(layout.extractedUsage).map { try UsageRecord(json: $0) }
        let quarantine = try lines(layout.quarantine("extract"))
        let segments = FileManager.default.fileExists(atPath: layout.extractedRecords) ? try StagedRecords.segments(path: layout.extractedRecords) : []
        for (index, source) in try lines(layout.extractedSources).map({ try GenericSource(json: $0) }).enumerated() {
            let passed = try StagedRecords.forEachView(path: layout.extractedRecords, segments: segments.filter { $0.source == index }[...],
                                                       file: source.file, repeats: layout.extractedRepeats) { usage.append($0.makeRecord()) }
            try source.checkCount(passed)
        }
        return Run(report: report,
                   usage: usage,
                   costs: try lines(layout.stageFolder("extract") + "/provider_costs.jsonl"),
                   quarantine: quarantine,
                   invoices: try lines(layout.extractedInvoices).map { try Invoice(json: $0) })
    }

    @Test func genericCSVWithTagsQuotesAndCRLF() throws {
        let r = try Self.run(["good.csv"])
        #expect(r.counts("good.csv") == RowCounts(rowsRead: 3, rowsOut: 3, rowsQuarantined: 0))
        #expect(r.report.sources.first?.kind == "reckon.generic.csv")
        let first = r.usage[0]
        #expect(first.provider == "anthropic" && first.billingAccountId == "org_G" && first.subAccountId == "ws_1")
        #expect(first.model == "claude-sonnet-4-5-20250929" && first.serviceTier == "standard")
        #expect(first.periodStart.description == "2026-10-03T10:00:00Z" && first.periodEnd == first.periodStart)
        #expect(first.quantities.map(\.meter) == ["tokens_input", "tokens_output", "tokens_cache_read"])
        #expect(first.quantities.map(\.quantity) == [1200, 300, 5000])
        #expect(first.tags.map { "\($0.key)=\($0.value)" } == ["feature=draft, reply", "team=search"])
        // The request id is read (for repeats) but not staged: nothing after extract uses it.
        let parsed = try StagedRecordsTests.parse(Fixture.path("usage/good.csv"))
        #expect(first.requestId == nil && parsed.first?.requestId == "req-1")
        #expect(first.source.line == 2)
        let second = r.usage[1]
        #expect(second.provider == "anthropic")  // lower-cased
        #expect(second.serviceTier == "batch")
        #expect(second.tags.map(\.key) == ["feature"])  // empty tag value = untagged for that key
        #expect(r.usage[2].subAccountId == nil && r.usage[2].source.line == 4)
    }

    @Test func gzipIsReadByMagicAndTruncationIsQuarantinedWithOffset() throws {
        let r = try Self.run(["good.csv.gz", "truncated.csv.gz"])
        #expect(r.counts("good.csv.gz") == RowCounts(rowsRead: 3, rowsOut: 3, rowsQuarantined: 0))
        let t = try #require(r.counts("truncated.csv.gz"))
        #expect(t.balanced && t.rowsQuarantined == 1)
        #expect(t.rowsOut > 100)  // the rows before the cut are kept and counted
        let q = r.quarantined("truncated.csv.gz")
        #expect(q.count == 1 && q[0]["reason"]?.string?.contains("truncated gzip") == true && q[0]["byte_offset"] != nil)
    }

    @Test func raggedRowsAndBadFieldsAreQuarantinedByLine() throws {
        let r = try Self.run(["ragged.csv"])
        #expect(r.counts("ragged.csv") == RowCounts(rowsRead: 5, rowsOut: 1, rowsQuarantined: 4))
        let q = r.quarantined("ragged.csv")
        #expect(q.map { $0["line"] } == [.number("3"), .number("4"), .number("5"), .number("6")])
        #expect(q[0]["reason"]?.string == "expected 5 fields, found 6")
        #expect(q[1]["reason"]?.string == "expected 5 fields, found 4")
        #expect(q[2]["reason"]?.string == "input_tokens is negative: -3.0")
        #expect(q[3]["reason"]?.string?.contains("timestamp is not an RFC 3339") == true)
        #expect(q[0]["raw"]?.string == "2026-10-03T10:00:00Z,anthropic,org_G,claude-haiku-4-5,5,extra")
    }

    @Test func unterminatedQuoteStopsTheFileWithItsLine() throws {
        let r = try Self.run(["unterminated.csv"])
        let c = try #require(r.counts("unterminated.csv"))
        #expect(c == RowCounts(rowsRead: 2, rowsOut: 1, rowsQuarantined: 1))
        let q = r.quarantined("unterminated.csv")
        #expect(q.first?["line"] == .number("3"))
        #expect(q.first?["reason"]?.string?.contains("unterminated quoted field") == true)
    }

    @Test func invalidUTF8IsQuarantinedNotMangled() throws {
        let r = try Self.run(["invalid-utf8.csv"])
        #expect(r.counts("invalid-utf8.csv") == RowCounts(rowsRead: 2, rowsOut: 1, rowsQuarantined: 1))
        #expect(r.quarantined("invalid-utf8.csv").first?["reason"]?.string == "model is not valid UTF-8")
        #expect(r.usage.map(\.model) == ["claude-haiku-4-5"])
    }

    @Test func jsonlDuplicatesAndBadLines() throws {
        let r = try Self.run(["mixed.jsonl"], folder: "usage/provider=openai")
        #expect(r.report.sources.first?.kind == "reckon.generic.jsonl")
        #expect(r.counts("mixed.jsonl") == RowCounts(rowsRead: 7, rowsOut: 2, rowsQuarantined: 5))
        // Repeated request ids are found after the whole run, so their entries come last; order by line.
        let q = r.quarantined("mixed.jsonl").sorted { Int($0["line"]?.decimal?.description.split(separator: ".").first ?? "0")! < Int($1["line"]?.decimal?.description.split(separator: ".").first ?? "0")! }
        #expect(q.map { $0["line"] } == [.number("2"), .number("3"), .number("4"), .number("6"), .number("8")])
        #expect(q[0]["reason"]?.string?.hasPrefix("duplicate request_id") == true)
        #expect(q[0]["raw"]?.string?.contains("\"request_id\":\"r1\"") == true)
        #expect(q[1]["reason"]?.string?.contains("not a flat JSON object") == true)
        #expect(q[2]["reason"]?.string == "input_tokens must be a number, not a string")
        #expect(q[3]["reason"]?.string == "model is missing")
        #expect(q[4]["reason"]?.string == "duplicate key \"input_tokens\"")
        #expect(r.report.notes.contains { $0.hasPrefix("1 records repeat a request_id") })
        let a = r.usage[0]
        #expect(a.executionId == "ex1" && a.spanId == "s1" && a.agent == "triage" && a.subAccountId == "proj_1")
        #expect(a.tags.map { "\($0.key)=\($0.value)" } == ["env_name=prod", "flag=true", "n=3", "team=support"])
        let b = r.usage[1]
        #expect(b.serviceTier == "batch" && b.periodEnd.description == "2026-10-06T00:00:00Z")
        #expect(b.tags.first?.value == "search \"quoted\"")
    }

    @Test func jsonlKeysInAnyOrderReadTheSame() throws {
        // Lines 2 and 3 change the key order (and line 3 has an unknown key and escapes): each key is
        // still its field; line 4 repeats a key at a position line 3 gave to another field.
        let r = try Self.run(["key-orders.jsonl"], folder: "usage/provider=openai/billing_account=org_K")
        #expect(r.counts("key-orders.jsonl") == RowCounts(rowsRead: 5, rowsOut: 4, rowsQuarantined: 1))
        #expect(r.quarantined("key-orders.jsonl").map { $0["reason"]?.string } == ["duplicate key \"input_tokens\""])
        #expect(r.usage.map(\.source.line) == [1, 2, 3, 5])
        #expect(try StagedRecordsTests.parse(Fixture.path("usage/key-orders.jsonl"), defaults: ["provider": "openai", "billing_account": "org_K"]).map(\.requestId) == ["k1", "k2", "k3", "k5"])
        for u in r.usage {
            #expect(u.model == "gpt-4o" && u.periodStart.description == "2026-10-05T10:00:00Z")
            #expect(u.quantities.map(\.meter) == ["tokens_input", "tokens_output"] && u.quantities.map(\.quantity) == [100, 7])
            #expect(u.tags.map { "\($0.key)=\($0.value)" } == ["team=søk"])
        }
    }

    @Test func openAIUsageSplitsCachedTokensOutOfInput() throws {
        let r = try Self.run(["openai-usage.json"], folder: "usage/provider=openai/billing_account=org_OAI")
        #expect(r.counts("openai-usage.json") == RowCounts(rowsRead: 2, rowsOut: 1, rowsQuarantined: 1))
        let u = try #require(r.usage.first)
        #expect(u.provider == "openai" && u.billingAccountId == "org_OAI" && u.subAccountId == "proj_A" && u.model == "gpt-4o-2024-08-06")
        #expect(u.quantities.map(\.meter) == ["tokens_input", "tokens_cache_read", "tokens_output"])
        #expect(u.quantities.map(\.quantity) == [200, 800, 500])  // 1000 input include 800 cached
        #expect(u.periodStart.description == "2026-10-05T00:00:00Z")
        #expect(r.quarantine.first?["reason"]?.string?.contains("exceeds input_tokens") == true)
        #expect(r.quarantine.first?["xpath"]?.string == "$.data[0].results[1]")
    }

    @Test func providerCostReportsAreExactDollars() throws {
        let r = try Self.run(["openai-costs.json", "anthropic-cost.json"], folder: "usage/provider=x/billing_account=org_C")
        #expect(r.counts("openai-costs.json") == RowCounts(rowsRead: 3, rowsOut: 2, rowsQuarantined: 1))
        #expect(r.counts("anthropic-cost.json") == RowCounts(rowsRead: 2, rowsOut: 1, rowsQuarantined: 1))
        #expect(r.costs.map { $0["amount"] } == [.number("1.2345"), .number("0.06"), .number("12.5")])
        #expect(r.costs.map { $0["currency"]?.string } == ["USD", "USD", "USD"])
        #expect(r.costs[0]["token_type"]?.string == "uncached_input_tokens")
        #expect(r.costs[2]["description"]?.string == "Text tokens")
        #expect(r.quarantined("anthropic-cost.json").first?["reason"]?.string?.contains("decimal string of cents") == true)
    }

    @Test func quarantineThresholdFailsTheRunWithExitCode65() throws {
        let error = #expect(throws: ReckonError.self) { _ = try Self.run(["ragged.csv"], threshold: "0.5") }
        #expect(error?.code.exitStatus == .dataError)
        #expect(error?.message.contains("4 of 5 records quarantined") == true)
    }

    @Test func promptLayerLogLinesAreSaaSMetersWithTags() throws {
        let r = try Self.run(["promptlayer-log.jsonl"], folder: "usage/provider=promptlayer/billing_account=cus_Acme42")
        #expect(r.report.sources.first?.kind == "promptlayer.request_log")
        #expect(r.counts("promptlayer-log.jsonl") == RowCounts(rowsRead: 4, rowsOut: 3, rowsQuarantined: 1))
        #expect(r.usage.map { $0.quantities.map(\.meter) } == [["logged_requests"], ["logged_requests"], ["eval_cell_executions"]])
        let first = r.usage[0]
        #expect(first.provider == "promptlayer" && first.billingAccountId == "cus_Acme42" && first.subAccountId == "812")
        #expect(first.periodStart.description == "2026-10-07T09:15:02Z")
        #expect(first.tags.map { "\($0.key)=\($0.value)" } == ["pl_tag_draft_reply=true", "pl_tag_prod=true", "team=support", "ticket=4411", "user_id=u_17"])
        #expect(first.requestId == "pl-req-pl_9f1" && first.agent == "draft-reply")
        #expect(r.usage[2].requestId == "pl-eval-70031")
        #expect(r.quarantine.first?["line"] == .number("4"))
        #expect(r.quarantine.first?["reason"]?.string?.contains("request_start_time") == true)
    }

    @Test func stripeInvoiceAndCreditNote() throws {
        let r = try Self.run([], invoices: ["stripe-invoice.json", "stripe-credit-note.json"])
        #expect(r.counts("stripe-invoice.json") == RowCounts(rowsRead: 1, rowsOut: 1, rowsQuarantined: 0))
        #expect(r.report.sources.map(\.kind) == ["invoice.stripe", "invoice.stripe"])
        let credit = try #require(r.invoices.first { $0.isCreditNote })
        #expect(credit.id == "PL-2026-10-0007-CN-01" && credit.precedingInvoiceIds == ["PL-2026-09-0005"])
        #expect(credit.totals.payable == "10.99" && credit.lines.first?.netAmount == "10.99")
        let inv = try #require(r.invoices.first { !$0.isCreditNote })
        #expect(inv.id == "PL-2026-10-0007" && inv.currency == "USD" && inv.buyer.id == "cus_Acme42")
        #expect(inv.issueDate.description == "2026-11-02")
        #expect(inv.periodStart?.description == "2026-10-01" && inv.periodEnd?.description == "2026-10-31")
        #expect(inv.lines.map(\.netAmount) == ["49.00", "3.70"])
        #expect(inv.lines[1].unitPrice == "0.003" && inv.lines[1].quantity == 1234)
        #expect(inv.lines[1].sellerItemId == "promptlayer:pro:request_overage")
        #expect(inv.lines[0].periodStart?.description == "2026-11-01" && inv.lines[0].periodEnd?.description == "2026-11-30")
        #expect(inv.taxSubtotals.map(\.taxAmount) == ["10.54"] && inv.taxSubtotals.first?.percent == 20)
        #expect(inv.totals.taxInclusive == "63.24" && inv.totals.prepaid == 10 && inv.totals.payable == "53.24")
        #expect(EN16931.check(inv).isEmpty)
    }

    @Test func overlappingExportsCountEachRequestOnce() throws {
        let r = try Self.run(["overlap-a.csv", "overlap-b.csv"])
        #expect(r.counts("overlap-a.csv") == RowCounts(rowsRead: 3, rowsOut: 3, rowsQuarantined: 0))
        #expect(r.counts("overlap-b.csv") == RowCounts(rowsRead: 3, rowsOut: 1, rowsQuarantined: 2))
        let q = r.quarantined("overlap-b.csv")
        #expect(q.map { $0["line"] } == [.number("2"), .number("4")])
        #expect(q.map { $0["raw"]?.string } == ["2026-10-03T10:00:00Z,anthropic,org_G,claude-haiku-4-5,6,x-2",
                                                "2026-10-03T11:00:00Z,anthropic,org_G,claude-haiku-4-5,8,x-3"])
        // What transform reads back from the staged records is exactly what extract accepted.
        #expect(r.usage.map { "\(URL(fileURLWithPath: $0.source.file).lastPathComponent):\($0.source.line ?? 0)" }
                == ["overlap-a.csv:2", "overlap-a.csv:3", "overlap-a.csv:4", "overlap-b.csv:3"])
        #expect(r.usage.map { $0.quantities.first?.quantity } == [5, 6, 7, 8])
    }

    @Test func tabSeparatedExportsAreRecognised() throws {
        let r = try Self.run(["dashboard.tsv"])
        #expect(r.report.sources.first?.kind == "reckon.generic.tsv")
        #expect(r.counts("dashboard.tsv") == RowCounts(rowsRead: 2, rowsOut: 2, rowsQuarantined: 0))
        #expect(r.usage.map { $0.quantities.map(\.quantity) } == [[100, 10], [200, 20]])
    }
}
