import ReckonCore

/// Reads a UBL 2.1 `Invoice` or `CreditNote` into an `Invoice`, streaming through the document once.
///
/// Elements are matched by namespace URI and local name, never by prefix; elements of other
/// namespaces (extensions, signatures) are skipped with their subtrees.
/// - Complexity: O(document size); memory O(lines).
public enum UBLInvoiceReader {
    static let invoiceNS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
    static let creditNoteNS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
    static let cacNS = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
    static let cbcNS = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

    /// Whether the bytes look like a UBL document (root namespace sniffed from the first 4 KiB).
    public static func looksLikeUBL(_ bytes: [UInt8]) -> Bool {
        let head = String(decoding: bytes.prefix(4096), as: UTF8.self)
        return head.contains(invoiceNS) || head.contains(creditNoteNS)
    }

    private struct Frame {
        var name: String
        var currencyID: String?
        var unitCode: String?
    }

    private struct TaxTotalBuilder {
        var amount: ExactDecimal?
        var currency: String?
        var subtotals: [Invoice.TaxSubtotal] = []
    }

    public static func read(bytes: [UInt8], file: String) throws(ReckonError) -> Invoice {
        var reader = try XMLStreamReader(bytes: bytes, file: file)
        var stack: [Frame] = []
        var text = ""
        var skipDepth: Int? = nil
        var rootName = ""

        // Header fields collected as the document streams by.
        var id: String?, typeCode: String?, issueDate: CivilDate?, currency: String?, taxCurrency: String?
        var periodStart: CivilDate?, periodEnd: CivilDate?, buyerReference: String?
        var seller = Invoice.Party(), buyer = Invoice.Party()
        var preceding: [String] = []
        var lines: [Invoice.Line] = []
        var docAC: [Invoice.AllowanceCharge] = []
        var taxTotals: [TaxTotalBuilder] = []
        var totals = Invoice.Totals()

        // The line / allowance-charge / subtotal being read.
        var lineFields: [String: (String, Frame)] = [:]
        var lineAC: [Invoice.AllowanceCharge] = []
        var acFields: [String: (String, Frame)] = [:]
        var subFields: [String: (String, Frame)] = [:]
        var lineCount = 0

        func position(_ path: String? = nil) -> SourcePosition {
            SourcePosition(file: file, line: reader.line, path: path)
        }
        func xpath() -> String {
            "/" + stack.map { $0.name }.joined(separator: "/")
        }
        func decimal(_ s: String, _ what: String) throws(ReckonError) -> ExactDecimal {
            guard let d = ExactDecimal(s) else {
                throw ReckonError(.badData, "\(what) is not a decimal number: \"\(s)\"", at: position(xpath()))
            }
            return d
        }
        func date(_ s: String, _ what: String) throws(ReckonError) -> CivilDate {
            guard let d = CivilDate(s) else {
                throw ReckonError(.badData, "\(what) is not a date (YYYY-MM-DD): \"\(s)\"", at: position(xpath()))
            }
            return d
        }
        func allowanceCharge(_ f: [String: (String, Frame)], at path: String) throws(ReckonError) -> Invoice.AllowanceCharge {
            guard let ind = f["ChargeIndicator"]?.0, ind == "true" || ind == "false" else {
                throw ReckonError(.badData, "AllowanceCharge without a ChargeIndicator of true or false", at: position(path))
            }
            guard let amount = f["Amount"]?.0 else {
                throw ReckonError(.badData, "AllowanceCharge without an Amount", at: position(path))
            }
            var ac = Invoice.AllowanceCharge(isCharge: ind == "true", amount: try decimal(amount, "AllowanceCharge Amount"))
            if let b = f["BaseAmount"]?.0 { ac.baseAmount = try decimal(b, "BaseAmount") }
            if let p = f["MultiplierFactorNumeric"]?.0 { ac.percent = try decimal(p, "MultiplierFactorNumeric") }
            ac.reason = f["AllowanceChargeReason"]?.0
            ac.reasonCode = f["AllowanceChargeReasonCode"]?.0
            ac.vatCategory = f["TaxCategory/ID"]?.0
            if let p = f["TaxCategory/Percent"]?.0 { ac.vatPercent = try decimal(p, "TaxCategory Percent") }
            return ac
        }

        while try reader.read() {
            let kind = reader.kind
            if let d = skipDepth {
                if (kind == .endElement && reader.depth == d) || (kind == .element && reader.isEmptyElement && reader.depth == d) {
                    skipDepth = nil
                }
                continue
            }
            switch kind {
            case .text:
                text += reader.value
                continue
            case .other:
                continue
            case .element:
                let ns = reader.namespaceURI
                let name = reader.localName
                if stack.isEmpty {
                    guard (ns == invoiceNS && name == "Invoice") || (ns == creditNoteNS && name == "CreditNote") else {
                        throw ReckonError(.badData, "not a UBL 2.1 Invoice or CreditNote (root {\(ns)}\(name))", at: position())
                    }
                    rootName = name
                    stack.append(Frame(name: name))
                    continue
                }
                guard ns == cacNS || ns == cbcNS else {
                    if !reader.isEmptyElement { skipDepth = reader.depth }
                    continue
                }
                stack.append(Frame(name: name, currencyID: reader.attribute("currencyID"), unitCode: reader.attribute("unitCode")))
                text = ""
                if stack.count == 2 && (name == "InvoiceLine" || name == "CreditNoteLine") {
                    lineCount += 1
                    lineFields = [:]
                    lineAC = []
                }
                if !reader.isEmptyElement { continue }
                // An empty element ends at once: fall through to the end handling.
            case .endElement:
                break
            }

            // End of an element: `stack` still holds it.
            guard stack.count > 1 else { break }  // end of the root
            let frame = stack[stack.count - 1]
            let rel = stack.dropFirst().map(\.name)
            let value = text.trimmed
            text = ""
            let path = rel.joined(separator: "/")
            let top = rel[0]
            let currentXPath = xpath()
            stack.removeLast()

            switch top {
            case "InvoiceLine", "CreditNoteLine":
                if rel.count == 1 {
                    let at = "/\(rootName)/cac:\(top)[\(lineCount)]"
                    guard let lid = lineFields["ID"]?.0 else {
                        throw ReckonError(.badData, "invoice line without an ID", at: position(at))
                    }
                    let qKey = top == "InvoiceLine" ? "InvoicedQuantity" : "CreditedQuantity"
                    guard let q = lineFields[qKey] else {
                        throw ReckonError(.badData, "invoice line \(lid) without \(qKey)", at: position(at))
                    }
                    guard let net = lineFields["LineExtensionAmount"]?.0 else {
                        throw ReckonError(.badData, "invoice line \(lid) without LineExtensionAmount", at: position(at))
                    }
                    var line = Invoice.Line(id: lid, quantity: try decimal(q.0, "\(qKey)"),
                                            netAmount: try decimal(net, "LineExtensionAmount"), xpath: at)
                    line.unitCode = q.1.unitCode
                    if let p = lineFields["Price/PriceAmount"]?.0 { line.unitPrice = try decimal(p, "PriceAmount") }
                    if let b = lineFields["Price/BaseQuantity"]?.0 { line.baseQuantity = try decimal(b, "BaseQuantity") }
                    line.itemName = lineFields["Item/Name"]?.0
                    line.itemDescription = lineFields["Item/Description"]?.0
                    line.sellerItemId = lineFields["Item/SellersItemIdentification/ID"]?.0
                    if let s = lineFields["InvoicePeriod/StartDate"]?.0 { line.periodStart = try date(s, "line StartDate") }
                    if let e = lineFields["InvoicePeriod/EndDate"]?.0 { line.periodEnd = try date(e, "line EndDate") }
                    line.vatCategory = lineFields["Item/ClassifiedTaxCategory/ID"]?.0
                    if let p = lineFields["Item/ClassifiedTaxCategory/Percent"]?.0 { line.vatPercent = try decimal(p, "Percent") }
                    line.allowanceCharges = lineAC
                    lines.append(line)
                } else if rel.count >= 2 && rel[1] == "AllowanceCharge" {
                    if rel.count == 2 {
                        lineAC.append(try allowanceCharge(acFields, at: currentXPath))
                        acFields = [:]
                    } else {
                        acFields[rel.dropFirst(2).joined(separator: "/")] = (value, frame)
                    }
                } else {
                    lineFields[rel.dropFirst().joined(separator: "/")] = (value, frame)
                }
            case "AllowanceCharge":
                if rel.count == 1 {
                    docAC.append(try allowanceCharge(acFields, at: currentXPath))
                    acFields = [:]
                } else {
                    acFields[rel.dropFirst().joined(separator: "/")] = (value, frame)
                }
            case "TaxTotal":
                if rel.count == 1 { continue }
                if path == "TaxTotal/TaxAmount" {
                    taxTotals.append(TaxTotalBuilder(amount: try decimal(value, "TaxAmount"), currency: frame.currencyID))
                } else if rel.count >= 2 && rel[1] == "TaxSubtotal" {
                    if rel.count == 2 {
                        guard let taxable = subFields["TaxableAmount"]?.0, let tax = subFields["TaxAmount"]?.0,
                              let cat = subFields["TaxCategory/ID"]?.0 else {
                            throw ReckonError(.badData, "TaxSubtotal needs TaxableAmount, TaxAmount and TaxCategory/ID", at: position(currentXPath))
                        }
                        var sub = Invoice.TaxSubtotal(taxableAmount: try decimal(taxable, "TaxableAmount"),
                                                      taxAmount: try decimal(tax, "TaxAmount"), category: cat)
                        if let p = subFields["TaxCategory/Percent"]?.0 { sub.percent = try decimal(p, "Percent") }
                        sub.exemptionReason = subFields["TaxCategory/TaxExemptionReason"]?.0
                        if taxTotals.isEmpty { taxTotals.append(TaxTotalBuilder()) }
                        taxTotals[taxTotals.count - 1].subtotals.append(sub)
                        subFields = [:]
                    } else {
                        subFields[rel.dropFirst(2).joined(separator: "/")] = (value, frame)
                    }
                }
            case "LegalMonetaryTotal":
                guard rel.count == 2 else { continue }
                let amount = try decimal(value, rel[1])
                switch rel[1] {
                case "LineExtensionAmount": totals.lineExtension = amount
                case "TaxExclusiveAmount": totals.taxExclusive = amount
                case "TaxInclusiveAmount": totals.taxInclusive = amount
                case "AllowanceTotalAmount": totals.allowanceTotal = amount
                case "ChargeTotalAmount": totals.chargeTotal = amount
                case "PrepaidAmount": totals.prepaid = amount
                case "PayableRoundingAmount": totals.rounding = amount
                case "PayableAmount": totals.payable = amount
                default: break
                }
            default:
                switch path {
                case "ID": id = value
                case "IssueDate": issueDate = try date(value, "IssueDate")
                case "InvoiceTypeCode", "CreditNoteTypeCode": typeCode = value
                case "DocumentCurrencyCode": currency = value
                case "TaxCurrencyCode": taxCurrency = value
                case "BuyerReference": buyerReference = value
                case "InvoicePeriod/StartDate": periodStart = try date(value, "InvoicePeriod StartDate")
                case "InvoicePeriod/EndDate": periodEnd = try date(value, "InvoicePeriod EndDate")
                case "BillingReference/InvoiceDocumentReference/ID": preceding.append(value)
                case "AccountingSupplierParty/Party/PartyIdentification/ID": seller.id = seller.id ?? value
                case "AccountingSupplierParty/Party/PartyName/Name": seller.name = seller.name ?? value
                case "AccountingSupplierParty/Party/PartyLegalEntity/RegistrationName": seller.name = value
                case "AccountingCustomerParty/Party/PartyIdentification/ID": buyer.id = buyer.id ?? value
                case "AccountingCustomerParty/Party/PartyName/Name": buyer.name = buyer.name ?? value
                case "AccountingCustomerParty/Party/PartyLegalEntity/RegistrationName": buyer.name = value
                default: break
                }
            }
        }

        let at = SourcePosition(file: file)
        guard let id, !id.isEmpty else { throw ReckonError(.badData, "invoice without an ID (BT-1)", at: at) }
        guard let issueDate else { throw ReckonError(.badData, "invoice \(id) without an IssueDate (BT-2)", at: at) }
        guard let currency, !currency.isEmpty else {
            throw ReckonError(.badData, "invoice \(id) without a DocumentCurrencyCode (BT-5)", at: at)
        }
        var invoice = Invoice(syntax: "ubl", file: file, id: id, isCreditNote: rootName == "CreditNote",
                              issueDate: issueDate, currency: currency, seller: seller, buyer: buyer)
        invoice.typeCode = typeCode
        invoice.taxCurrency = taxCurrency
        invoice.periodStart = periodStart
        invoice.periodEnd = periodEnd
        invoice.buyerReference = buyerReference
        invoice.precedingInvoiceIds = preceding
        invoice.lines = lines
        invoice.allowanceCharges = docAC
        // The VAT breakdown is the TaxTotal in the document currency (a second one may restate
        // the VAT in the tax currency, BT-111).
        let main = taxTotals.first(where: { $0.currency == currency }) ?? taxTotals.first
        invoice.taxSubtotals = main?.subtotals ?? []
        totals.taxTotal = main?.amount
        invoice.totals = totals
        return invoice
    }
}
