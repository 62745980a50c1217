import Foundation
import Testing
import ReckonCore
import ReckonFocus

/// A credit note for an invoice of an earlier, already-invoiced period is booked in the month it
/// is issued, as ChargeClass=Correction with the original charge period; one inside the same
/// open period is not a correction.
@Suite("Corrections", .serialized)
struct CorrectionTests {
    /// Seller, buyer, zero tax and totals all equal to `amount`: the part both documents share.
    static func partiesAndTotals(_ amount: String) -> String {
        """
        <cac:AccountingSupplierParty><cac:Party><cac:PartyName><cbc:Name>Acme AI</cbc:Name></cac:PartyName></cac:Party></cac:AccountingSupplierParty>
          <cac:AccountingCustomerParty><cac:Party><cac:PartyIdentification><cbc:ID>acct_C</cbc:ID></cac:PartyIdentification></cac:Party></cac:AccountingCustomerParty>
          <cac:TaxTotal><cbc:TaxAmount currencyID="USD">0.00</cbc:TaxAmount></cac:TaxTotal>
          <cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID="USD">\(amount)</cbc:LineExtensionAmount>
            <cbc:TaxExclusiveAmount currencyID="USD">\(amount)</cbc:TaxExclusiveAmount><cbc:TaxInclusiveAmount currencyID="USD">\(amount)</cbc:TaxInclusiveAmount>
            <cbc:PayableAmount currencyID="USD">\(amount)</cbc:PayableAmount></cac:LegalMonetaryTotal>
        """
    }

    static func invoice(id: String, issued: String, from: String, to: String, amount: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
                 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
                 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
          <cbc:ID>\(id)</cbc:ID><cbc:IssueDate>\(issued)</cbc:IssueDate><cbc:DocumentCurrencyCode>USD</cbc:DocumentCurrencyCode>
          <cac:InvoicePeriod><cbc:StartDate>\(from)</cbc:StartDate><cbc:EndDate>\(to)</cbc:EndDate></cac:InvoicePeriod>
          \(partiesAndTotals(amount))
          <cac:InvoiceLine><cbc:ID>1</cbc:ID><cbc:InvoicedQuantity unitCode="C62">1</cbc:InvoicedQuantity>
            <cbc:LineExtensionAmount currencyID="USD">\(amount)</cbc:LineExtensionAmount><cac:Item><cbc:Name>Platform fee</cbc:Name></cac:Item>
            <cac:Price><cbc:PriceAmount currencyID="USD">\(amount)</cbc:PriceAmount></cac:Price></cac:InvoiceLine>
        </Invoice>

        """
    }

    static func creditNote(id: String, issued: String, refersTo: String, amount: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
                 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
                 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
          <cbc:ID>\(id)</cbc:ID><cbc:IssueDate>\(issued)</cbc:IssueDate><cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>
          <cbc:DocumentCurrencyCode>USD</cbc:DocumentCurrencyCode>
          <cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>\(refersTo)</cbc:ID></cac:InvoiceDocumentReference></cac:BillingReference>
          \(partiesAndTotals(amount))
          <cac:CreditNoteLine><cbc:ID>1</cbc:ID><cbc:CreditedQuantity unitCode="C62">1</cbc:CreditedQuantity>
            <cbc:LineExtensionAmount currencyID="USD">\(amount)</cbc:LineExtensionAmount><cac:Item><cbc:Name>Platform fee refund</cbc:Name></cac:Item>
            <cac:Price><cbc:PriceAmount currencyID="USD">\(amount)</cbc:PriceAmount></cac:Price></cac:CreditNoteLine>
        </CreditNote>

        """
    }

    @Test func creditNotesForEarlierPeriodsAreCorrections() throws {
        let dir = Jobs.tempDir("corr")
        try Jobs.write("provider,model,aliases,meter,service_tier,prompt_tier,unit,unit_price,currency,effective_from,effective_to,source,checked_on,included_per_month\n",
                       to: dir + "/ratecards/empty.csv")
        let folder = dir + "/invoices/provider=acme/"
        try Jobs.write(Self.invoice(id: "INV-9", issued: "2026-10-02", from: "2026-09-01", to: "2026-09-30", amount: "100.00"), to: folder + "inv9.xml")
        try Jobs.write(Self.invoice(id: "INV-10", issued: "2026-11-02", from: "2026-10-01", to: "2026-10-31", amount: "80.00"), to: folder + "inv10.xml")
        try Jobs.write(Self.creditNote(id: "CN-1", issued: "2026-10-20", refersTo: "INV-9", amount: "30.00"), to: folder + "cn1.xml")
        try Jobs.write(Self.creditNote(id: "CN-2", issued: "2026-10-25", refersTo: "INV-10", amount: "5.00"), to: folder + "cn2.xml")
        let out = Jobs.tempDir("corr-out")
        let r = try Jobs.nightly(input: dir, output: out)
        #expect(r.status == 0, "\(r.stderr)")
        let october = try FocusReader.rows(inJSONL: out + "/focus/invoiced/billing_period=2026-10/part-00000.jsonl")
        let cn1 = october.filter { $0[.invoiceId] == .string("CN-1") }
        #expect(cn1.count == 1)
        #expect(cn1.allSatisfy { $0[.chargeClass] == .string("Correction") })
        #expect(cn1.first?[.billedCost].decimal == -30)
        #expect(cn1.first?[.chargePeriodStart] == .dateTime(Timestamp(rfc3339: "2026-09-01T00:00:00Z")!))
        #expect(cn1.first?[.chargePeriodEnd] == .dateTime(Timestamp(rfc3339: "2026-10-01T00:00:00Z")!))
        #expect(cn1.first?[.billingPeriodStart] == .dateTime(Timestamp(rfc3339: "2026-10-01T00:00:00Z")!))
        // A credit note inside the same open period is not a correction.
        let cn2 = october.filter { $0[.invoiceId] == .string("CN-2") }
        #expect(cn2.count == 1 && cn2.first?[.chargeClass] == .null && cn2.first?[.billedCost].decimal == -5)
        // September keeps its invoice untouched.
        let september = try FocusReader.rows(inJSONL: out + "/focus/invoiced/billing_period=2026-09/part-00000.jsonl")
        #expect(september.map { $0[.invoiceId] } == [.string("INV-9")] && september.first?[.chargeClass] == .null)
    }
}
