import Testing
import ReckonCore
@testable import ReckonExtract

/// Checks the UBL readers against the public sample invoices in ../shared/einvoices (when the
/// folder is there: CI has it, a user's clone may not) and their EXPECTED.json.
@Suite("Shared e-invoices (../shared/einvoices)")
struct SharedEInvoiceTests {
    static let folder: String = {
        var p = #filePath
        for _ in 0..<4 { p = String(p[..<p.lastIndex(of: "/")!]) }
        return p + "/shared/einvoices"
    }()

    static var expected: [JSONValue] {
        guard let bytes = try? ByteStream.readAll(path: folder + "/EXPECTED.json"),
              let doc = try? JSONParser.parse(bytes) else { return [] }
        return doc.array ?? []
    }

    @Test(.enabled(if: FileSystem.exists(folder + "/EXPECTED.json")))
    func ublSamplesMatchExpectedTotals() throws {
        var checked = 0
        for e in Self.expected {
            let file = Self.folder + "/" + (e["file"]?.string ?? "")
            guard FileSystem.exists(file) else { continue }
            let bytes = try ByteStream.readAll(path: file)
            let inv = e["syntax"]?.string == "CII" ? try CIIInvoiceReader.read(bytes: bytes, file: file)
                                                   : try UBLInvoiceReader.read(bytes: bytes, file: file)
            #expect(inv.typeCode == e["type_code"]?.string, "\(file)")
            #expect(inv.taxCurrency == e["tax_currency"]?.string, "\(file)")
            #expect(inv.precedingInvoiceIds == (e["billing_references"]?.array ?? []).compactMap(\.string), "\(file)")
            #expect(inv.lines.count == Int(e["line_count_top_level"]?.decimal?.description.split(separator: ".").first ?? "-1"), "\(file) lines")
            let vat = (e["vat_breakdown"]?.array ?? []).map { "\($0["category"]?.string ?? "") \($0["taxable"]?.decimal ?? 0) \($0["tax"]?.decimal ?? 0)" }
            #expect(inv.taxSubtotals.map { "\($0.category) \($0.taxableAmount) \($0.taxAmount)" } == vat, "\(file) VAT")
            #expect(inv.id == e["id"]?.string, "\(file)")
            #expect(inv.currency == e["currency"]?.string, "\(file)")
            #expect(inv.issueDate.description == e["issue_date"]?.string, "\(file)")
            let t = try #require(e["totals"])
            #expect(inv.totals.lineExtension == t["line_total"]?.decimal, "\(file) line total")
            #expect(inv.totals.taxExclusive == t["tax_exclusive"]?.decimal, "\(file) tax exclusive")
            #expect(inv.totals.taxInclusive == t["tax_inclusive"]?.decimal, "\(file) tax inclusive")
            #expect(inv.totals.payable == t["payable"]?.decimal, "\(file) payable")
            #expect(inv.totals.taxTotal == t["tax_total"]?.decimal, "\(file) tax total")
            #expect(inv.totals.prepaid == t["prepaid"]?.decimal, "\(file) prepaid")
            #expect(inv.totals.rounding == t["rounding"]?.decimal, "\(file) rounding")
            let failing = Set(EN16931.check(inv).map(\.rule))
            for rule in ["BR-CO-10", "BR-CO-11", "BR-CO-12", "BR-CO-13", "BR-CO-14", "BR-CO-15", "BR-CO-16"] {
                guard let ok = e["arithmetic_check"]?[rule]?.bool else { continue }
                #expect(failing.contains(rule) == !ok, "\(file) \(rule)")
            }
            checked += 1
        }
        #expect(checked == 12)
    }
}
