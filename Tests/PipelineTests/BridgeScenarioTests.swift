import Foundation
import Testing
import ReckonCore
import ReckonFocus

/// A month with known, injected differences between usage × price and the invoice; every
/// bridge category must come out to the cent.
@Suite("Variance bridge on an injected scenario", .serialized)
struct BridgeScenarioTests {
    static let card = """
    provider,model,aliases,meter,service_tier,prompt_tier,unit,unit_price,currency,effective_from,effective_to,source,checked_on,included_per_month
    acme,m1,,tokens_input,standard,,1000000 Tokens,2,USD,2026-09-01,2026-10-16,https://acme.example/pricing,2026-11-20,
    acme,m1,,tokens_input,standard,,1000000 Tokens,1,USD,2026-10-16,,https://acme.example/pricing,2026-11-20,
    acme,m1,,tokens_output,standard,,1000000 Tokens,10,USD,2026-09-01,,https://acme.example/pricing,2026-11-20,

    """
    // Oct 3 is missing from the usage export (the invoice bills it); the price drops on Oct 16.
    static let usage = """
    timestamp,provider,billing_account,model,input_tokens,output_tokens
    2026-10-01T09:00:00Z,acme,acct_S,m1,1000000,100000
    2026-10-02T09:00:00Z,acme,acct_S,m1,1000000,100000
    2026-10-20T09:00:00Z,acme,acct_S,m1,1000000,100000
    2026-10-21T09:00:00Z,acme,acct_S,m9,1000,0

    """

    static func line(_ id: Int, _ sku: String?, _ name: String, _ qty: String, _ price: String, _ base: String, _ amount: String) -> String {
        """
          <cac:InvoiceLine><cbc:ID>\(id)</cbc:ID><cbc:InvoicedQuantity unitCode="C62">\(qty)</cbc:InvoicedQuantity>
            <cbc:LineExtensionAmount currencyID="USD">\(amount)</cbc:LineExtensionAmount>
            <cac:Item><cbc:Name>\(name)</cbc:Name>\(sku.map { "<cac:SellersItemIdentification><cbc:ID>\($0)</cbc:ID></cac:SellersItemIdentification>" } ?? "")
              <cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>20</cbc:Percent></cac:ClassifiedTaxCategory></cac:Item>
            <cac:Price><cbc:PriceAmount currencyID="USD">\(price)</cbc:PriceAmount><cbc:BaseQuantity unitCode="C62">\(base)</cbc:BaseQuantity></cac:Price>
          </cac:InvoiceLine>
        """
    }

    static var invoice: String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
                 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
                 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
          <cbc:ID>ACME-10</cbc:ID><cbc:IssueDate>2026-11-02</cbc:IssueDate><cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
          <cbc:DocumentCurrencyCode>USD</cbc:DocumentCurrencyCode>
          <cac:InvoicePeriod><cbc:StartDate>2026-10-01</cbc:StartDate><cbc:EndDate>2026-10-31</cbc:EndDate></cac:InvoicePeriod>
          <cac:AccountingSupplierParty><cac:Party><cac:PartyName><cbc:Name>Acme AI</cbc:Name></cac:PartyName></cac:Party></cac:AccountingSupplierParty>
          <cac:AccountingCustomerParty><cac:Party><cac:PartyIdentification><cbc:ID>acct_S</cbc:ID></cac:PartyIdentification></cac:Party></cac:AccountingCustomerParty>
          <cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator><cbc:AllowanceChargeReason>Promotional credit</cbc:AllowanceChargeReason>
            <cbc:Amount currencyID="USD">5.00</cbc:Amount><cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>20</cbc:Percent></cac:TaxCategory></cac:AllowanceCharge>
          <cac:TaxTotal><cbc:TaxAmount currencyID="USD">5.00</cbc:TaxAmount>
            <cac:TaxSubtotal><cbc:TaxableAmount currencyID="USD">25.01</cbc:TaxableAmount><cbc:TaxAmount currencyID="USD">5.00</cbc:TaxAmount>
              <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>20</cbc:Percent></cac:TaxCategory></cac:TaxSubtotal></cac:TaxTotal>
          <cac:LegalMonetaryTotal>
            <cbc:LineExtensionAmount currencyID="USD">30.01</cbc:LineExtensionAmount><cbc:TaxExclusiveAmount currencyID="USD">25.01</cbc:TaxExclusiveAmount>
            <cbc:TaxInclusiveAmount currencyID="USD">30.01</cbc:TaxInclusiveAmount><cbc:AllowanceTotalAmount currencyID="USD">5.00</cbc:AllowanceTotalAmount>
            <cbc:PayableAmount currencyID="USD">30.01</cbc:PayableAmount>
          </cac:LegalMonetaryTotal>
        \(line(1, "acme:m1:tokens_input", "m1 input tokens", "4000000", "1.75", "1000000", "7.00"))
        \(line(2, "acme:m1:tokens_output", "m1 output tokens", "300123", "10", "1000000", "3.00"))
        \(line(3, "acme:m9:tokens_input", "m9 input tokens", "1000", "5", "1000000", "0.01"))
        \(line(4, nil, "Premium support", "1", "20.00", "1", "20.00"))
        </Invoice>

        """
    }

    /// An input folder with the scenario's rate card, usage and (this) invoice.
    static func scenario(_ name: String, invoice: String = Self.invoice) throws -> String {
        let dir = Jobs.tempDir(name)
        try Jobs.write(Self.card, to: dir + "/ratecards/acme.csv")
        try Jobs.write(Self.usage, to: dir + "/usage/export.csv")
        try Jobs.write(invoice, to: dir + "/invoices/provider=acme/ACME-10.xml")
        return dir
    }

    @Test func everyInjectedDifferenceHasItsCategory() throws {
        let dir = try Self.scenario("bridge")
        let out = Jobs.tempDir("bridge-out")
        let r = try Jobs.nightly(input: dir, output: out)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONParser.parse(Array(Jobs.read(out + "/reports/billing_period=2026-10/reconciliation.json").utf8))
        let a = try #require(report["accounts"]?.array?.first)
        #expect(a["estimated"]?.decimal == 8)        // 2M × $2 + 1M × $1 + 0.3M × $10
        #expect(a["invoiced"]?.decimal == "30.01")
        #expect(a["variance"]?.decimal == "22.01")
        var bridge: [String: ExactDecimal] = [:]
        for b in a["bridge"]?.array ?? [] { bridge[b["category"]!.string!] = b["amount"]!.decimal! }
        func cents(_ c: String) -> ExactDecimal { (bridge[c] ?? 0).rounded(scale: 2, .halfAwayFromZero) }
        #expect(cents("tax") == "5.00")                      // VAT 20%
        #expect(cents("credit") == "-5.00")                  // promotional credit
        #expect(cents("quantity") == "1.67")                 // the missing day: 1M tokens at the month's average estimate price
        #expect(cents("price") == "0.33")                    // billed $1.75 blended instead of the dated $2 → $1
        #expect(bridge["rounding"] == "-0.00123")            // 300,123 output tokens: $3.00123 billed as $3.00
        #expect(bridge["unpriced_usage"] == "0.01")          // m9 has no rate: its usage is unpriced, its line explained
        #expect(bridge["unmatched_invoice_line"] == 20)      // a line with no usage behind it
        #expect(bridge["unexplained"] == 0)
        #expect(bridge.values.sum() == a["variance"]?.decimal)
        #expect(a["status"]?.string == "over")
    }

    /// The output line without its seller item id: unmatched until a pattern on its name maps it.
    @Test func invoiceLinesWithoutASkuIdMatchByNamePattern() throws {
        let invoice = Self.invoice.replacingOccurrences(of: "<cac:SellersItemIdentification><cbc:ID>acme:m1:tokens_output</cbc:ID></cac:SellersItemIdentification>", with: "")
        #expect(invoice != Self.invoice)
        let dir = try Self.scenario("patterns", invoice: invoice)
        func bridge(_ out: String) throws -> [String: ExactDecimal] {
            let report = try JSONParser.parse(Array(Jobs.read(out + "/reports/billing_period=2026-10/reconciliation.json").utf8))
            var b: [String: ExactDecimal] = [:]
            for x in report["accounts"]?.array?.first?["bridge"]?.array ?? [] { b[x["category"]!.string!] = x["amount"]!.decimal! }
            return b
        }
        let before = Jobs.tempDir("patterns-none")
        #expect(try Jobs.nightly(input: dir, output: before).status == 0)
        let unmatched = try bridge(before)
        #expect(unmatched["unmatched_invoice_line"] == 23 && unmatched["unmatched_usage"] == -3 && unmatched["rounding"] == nil)
        // Item name "m1 output tokens" (any case) → the SKU; the bridge is the one of the SkuId match.
        try Jobs.write("provider,match,sku_id\nacme,Premium*,acme:m1:tokens_cache_read\nacme,M1 OUTPUT*,acme:m1:tokens_output\n", to: dir + "/invoice_lines.csv")
        let after = Jobs.tempDir("patterns-on")
        #expect(try Jobs.nightly(input: dir, output: after).status == 0)
        let matched = try bridge(after)
        #expect(matched["rounding"] == "-0.00123" && matched["unmatched_usage"] == nil)
        // "Premium support" matched the first rule: a SKU with no usage, still unmatched, under its new id.
        #expect(matched["unmatched_invoice_line"] == 20)
        let rows = try FocusReader.rows(inJSONL: after + "/focus/invoiced/billing_period=2026-10/part-00000.jsonl")
        #expect(rows.contains { $0[.skuId] == .string("acme:m1:tokens_output") && $0[.consumedQuantity].decimal == 300123 && $0[.chargeCategory] == .string("Usage") })
        // A rule naming another provider's SKU is refused with its line.
        try Jobs.write("provider,match,sku_id\nacme,x*,openai:gpt-4o:tokens_input\n", to: dir + "/invoice_lines.csv")
        let bad = try Jobs.nightly(input: dir, output: Jobs.tempDir("patterns-bad"))
        #expect(bad.status == 65 && bad.stderr.contains("invoice_lines.csv:2"))
    }

    /// Per-account tolerance, absolute or relative to the invoice: the 22.01 variance on 30.01.
    @Test func tolerancesAreAbsoluteOrRelativePerAccount() throws {
        let dir = try Self.scenario("tolerance")
        let out = Jobs.tempDir("tolerance-out")
        #expect(try Jobs.nightly(input: dir, output: out).status == 0)
        func status(_ tolerances: String) throws -> String {
            try Jobs.write("provider,billing_account,absolute,relative_percent\n" + tolerances, to: dir + "/tolerances.csv")
            let r = try Jobs.run("reckon-reconcile", ["--input", dir, "--output", out])
            #expect(r.status == 0, "\(r.stderr)")
            let report = try JSONParser.parse(Array(Jobs.read(out + "/staging/reconcile/billing_period=2026-10/reconciliation.json").utf8))
            return report["accounts"]?.array?.first?["status"]?.string ?? "?"
        }
        #expect(try status("acme,acct_S,22.00,\n") == "over")
        #expect(try status("acme,acct_S,22.01,\n") == "within_tolerance")
        #expect(try status("acme,acct_S,,73\n") == "over")              // 73% of 30.01 = 21.9073
        #expect(try status("acme,acct_S,,73.35\n") == "within_tolerance")  // 22.012335
        #expect(try status("acme,acct_S,1,73.35\n") == "within_tolerance")
        #expect(try status("acme,other,100,\n") == "over")               // another account's tolerance; the default is 0.01
        try Jobs.write("provider,billing_account,absolute,relative_percent\nacme,acct_S,,\n", to: dir + "/tolerances.csv")
        #expect(try Jobs.run("reckon-reconcile", ["--input", dir, "--output", out]).status == 65)
    }

    /// A provider that bills Pacific months (UTC−7 at both boundaries): usage is cut at its month boundary.
    @Test func billingMonthsFollowTheProvidersTimeZone() throws {
        let dir = Jobs.tempDir("tz")
        try Jobs.write(Self.card, to: dir + "/ratecards/acme.csv")
        try Jobs.write("""
            timestamp,provider,billing_account,model,input_tokens
            2026-10-01T03:00:00Z,acme,acct_T,m1,1000000
            2026-10-15T12:00:00Z,acme,acct_T,m1,1000000
            2026-11-01T05:00:00Z,acme,acct_T,m1,1000000
            2026-11-01T08:00:00Z,acme,acct_T,m1,1000000

            """, to: dir + "/usage/export.csv")
        try Jobs.write("provider,utc_offset\nacme,-07:00\n", to: dir + "/billing_time_zones.csv")
        let out = Jobs.tempDir("tz-out")
        let r = try Jobs.nightly(input: dir, output: out)
        #expect(r.status == 0, "\(r.stderr)")
        func rows(_ p: String) throws -> [String] {
            try FocusReader.rows(inJSONL: out + "/focus/estimated/billing_period=\(p)/part-00000.jsonl").filter { $0[.chargeCategory] == .string("Usage") }.map { row in
                func t(_ c: FocusColumn) -> String { if case .dateTime(let x) = row[c] { return x.description } else { return "-" } }
                return "\(t(.billingPeriodStart)) \(t(.chargePeriodStart)) \(t(.chargePeriodEnd)) \(row[.billedCost].decimal!)"
            }
        }
        // 03:00Z on 1 October is 30 September in Pacific time; 05:00Z on 1 November is still 31 October.
        #expect(try rows("2026-09") == ["2026-09-01T07:00:00Z 2026-10-01T00:00:00Z 2026-10-01T07:00:00Z 2.0"])
        #expect(try rows("2026-10") == ["2026-10-01T07:00:00Z 2026-10-15T00:00:00Z 2026-10-16T00:00:00Z 2.0",
                                        "2026-10-01T07:00:00Z 2026-11-01T00:00:00Z 2026-11-01T07:00:00Z 1.0"])
        #expect(try rows("2026-11") == ["2026-11-01T07:00:00Z 2026-11-01T07:00:00Z 2026-11-02T00:00:00Z 1.0"])
        try Jobs.write("provider,utc_offset\nacme,Pacific\n", to: dir + "/billing_time_zones.csv")
        let bad = try Jobs.nightly(input: dir, output: Jobs.tempDir("tz-bad"))
        #expect(bad.status == 65 && bad.stderr.contains("billing_time_zones.csv:2"))
    }
}
