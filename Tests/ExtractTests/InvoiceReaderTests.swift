import Testing
import ReckonCore
@testable import ReckonExtract

enum Fixture {
    static func path(_ name: String, file: String = #filePath) -> String {
        String(file[..<file.lastIndex(of: "/")!]) + "/Fixtures/" + name
    }

    static func invoice(_ name: String) throws -> Invoice {
        let p = path(name)
        return try UBLInvoiceReader.read(bytes: try ByteStream.readAll(path: p), file: p)
    }
}

@Suite("UBL invoices")
struct InvoiceReaderTests {
    @Test func readsHeaderLinesTaxAndTotalsByNamespaceNotPrefix() throws {
        let inv = try Fixture.invoice("ubl-small.xml")
        #expect(inv.id == "INV-T-001")  // not the extension's ID
        #expect(inv.typeCode == "380")
        #expect(!inv.isCreditNote)
        #expect(inv.issueDate.description == "2026-11-02")
        #expect(inv.currency == "EUR")
        #expect(inv.periodStart?.description == "2026-10-01" && inv.periodEnd?.description == "2026-10-31")
        #expect(inv.seller.name == "Prompt Tools GmbH")
        #expect(inv.buyer == Invoice.Party(id: "cust-42", name: "Acme Analytics Ltd"))
        #expect(inv.lines.count == 2)
        let tokens = inv.lines[1]
        #expect(tokens.quantity == 3_000_000 && tokens.unitCode == "C62")
        #expect(tokens.netAmount == "30.99" && tokens.unitPrice == "10.33" && tokens.baseQuantity == 1_000_000)
        #expect(tokens.sellerItemId == "anthropic:claude-sonnet-4-5:tokens_input")
        #expect(tokens.itemName == "Claude Sonnet 4.5 input tokens" && tokens.itemDescription == "Input tokens")
        #expect(tokens.vatCategory == "S" && tokens.vatPercent == 10)
        #expect(tokens.periodEnd?.description == "2026-10-31")
        #expect(tokens.xpath == "/Invoice/cac:InvoiceLine[2]")
        #expect(inv.allowanceCharges.count == 1 && !inv.allowanceCharges[0].isCharge && inv.allowanceCharges[0].amount == 10)
        #expect(inv.taxSubtotals.map(\.taxAmount) == ["18.00", "3.10"])
        #expect(inv.taxSubtotals.map(\.percent) == [20, 10])
        let t = inv.totals
        #expect(t.lineExtension == "130.99" && t.allowanceTotal == 10 && t.taxExclusive == "120.99")
        #expect(t.taxTotal == "21.10" && t.taxInclusive == "142.09" && t.prepaid == 40 && t.rounding == "-0.09")
        #expect(t.payable == 102)
        #expect(EN16931.check(inv).isEmpty)
    }

    @Test func stagingJSONRoundTrips() throws {
        let inv = try Fixture.invoice("ubl-small.xml")
        #expect(try Invoice(json: JSONParser.parse(JSONWriter.write(inv.json))) == inv)
    }

    @Test func arithmeticViolationsNameTheRuleAndTheNumbers() throws {
        let violations = EN16931.check(try Fixture.invoice("ubl-bad-payable.xml"))
        #expect(violations.map(\.rule) == ["BR-CO-16"])
        #expect(violations[0].expected == "102.00" && violations[0].stated == "102.50")
    }

    @Test(arguments: ["xxe.xml", "billion-laughs.xml"])
    func documentTypeDeclarationsAreRefused(file: String) throws {
        let error = #expect(throws: ReckonError.self) { _ = try Fixture.invoice(file) }
        #expect(error?.code == .badData)
        #expect(error?.message.contains("DTD") == true)
        #expect(error?.position?.line == 2)
    }

    @Test func malformedXMLNamesTheLine() throws {
        let error = #expect(throws: ReckonError.self) { _ = try Fixture.invoice("malformed.xml") }
        #expect(error?.position?.line == 2)
        #expect(error?.message.contains("mismatch") == true)
    }
}

@Suite("Anthropic usage report")
struct AnthropicUsageTests {
    @Test func goodResultsAreExtractedAndBadOnesQuarantinedWithTheirPath() throws {
        let path = Fixture.path("anthropic-usage-mixed.json")
        let doc = try JSONParser.parse(try ByteStream.readAll(path: path))
        var records: [UsageRecord] = [], rejected: [QuarantineEntry] = []
        let counts = try AnthropicUsageReport.read(doc, file: path, provider: "anthropic", billingAccount: "org_T",
                                                   emit: { records.append($0); return true }, quarantine: { rejected.append($0) })
        #expect(counts == RowCounts(rowsRead: 5, rowsOut: 1, rowsQuarantined: 4))
        #expect(counts.balanced)
        let r = try #require(records.first)
        #expect(r.model == "claude-sonnet-4-5-20250929" && r.subAccountId == "wrkspc_A" && r.serviceTier == "standard")
        #expect(r.periodStart.description == "2026-10-05T00:00:00Z" && r.periodEnd.description == "2026-10-06T00:00:00Z")
        #expect(r.quantities.map(\.meter) == ["tokens_input", "tokens_cache_write_5m", "tokens_cache_write_1h",
                                              "tokens_cache_read", "tokens_output", "web_search_requests"])
        #expect(r.quantities.map(\.quantity) == [1500, 200, 0, 9000, 300, 2])
        #expect(rejected.map { $0.position.path } == ["$.data[0].results[1]", "$.data[0].results[2]",
                                                       "$.data[0].results[3]", "$.data[1].results[0]"])
        #expect(rejected[0].reason.contains("negative"))
        #expect(rejected[1].reason.contains("no model"))
        #expect(rejected[2].reason.contains("not a whole number"))
        #expect(rejected[3].reason.contains("starting_at"))
        #expect(rejected.allSatisfy { $0.position.file == path && $0.raw != nil })
    }
}
