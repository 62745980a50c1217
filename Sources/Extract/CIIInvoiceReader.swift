import ReckonCore

/// Reads a UN/CEFACT Cross Industry Invoice (D16B: Factur-X, ZUGFeRD 2, XRechnung CII) into an
/// `Invoice`, streaming through the document once. Elements are matched by namespace URI.
///
/// Type code 381 is a credit note (amounts positive, booked negative). Factur-X EXTENDED sub-lines
/// (those with a `ParentLineID`) are detail of their parent line and are not lines of their own,
/// as BR-CO-10 sums top-level lines only.
/// - Complexity: O(document size); memory O(lines).
public enum CIIInvoiceReader {
    static let rsmNS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
    static let namespaces: Set<String> = [
        rsmNS,
        "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
        "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
        "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    ]

    public static func looksLikeCII(_ bytes: [UInt8]) -> Bool {
        String(decoding: bytes.prefix(8192), as: UTF8.self).contains(rsmNS)
    }

    struct Fields {
        var values: [String: String] = [:]
        var attributes: [String: String] = [:]
        subscript(_ k: String) -> String? { values[k] }
    }

    public static func read(bytes: [UInt8], file: String) throws(ReckonError) -> Invoice {
        var reader = try XMLStreamReader(bytes: bytes, file: file)
        var stack: [String] = []
        var text = ""
        var skipDepth: Int?

        var header = Fields()
        var lines: [Fields] = []
        var headerAC: [Fields] = []
        var headerTax: [Fields] = []
        var taxTotals: [(String, String?)] = []  // (amount, currencyID)
        var preceding: [String] = []
        var current = Fields()      // the line / allowance-charge / tax group being read
        var lineAC: [[Fields]] = []
        var currentLineAC = Fields()

        let tx = "SupplyChainTradeTransaction"
        let lineTag = tx + "/IncludedSupplyChainTradeLineItem"
        let settle = tx + "/ApplicableHeaderTradeSettlement"

        while try reader.read() {
            let kind = reader.kind
            if let d = skipDepth {
                if (kind == .endElement && reader.depth == d) || (kind == .element && reader.isEmptyElement && reader.depth == d) { skipDepth = nil }
                continue
            }
            switch kind {
            case .text: text += reader.value; continue
            case .other: continue
            case .element:
                let ns = reader.namespaceURI, name = reader.localName
                if stack.isEmpty {
                    guard ns == rsmNS && name == "CrossIndustryInvoice" else {
                        throw ReckonError(.badData, "not a CII CrossIndustryInvoice (root {\(ns)}\(name))", at: SourcePosition(file: file, line: reader.line))
                    }
                    stack.append(name)
                    continue
                }
                guard namespaces.contains(ns) else {
                    if !reader.isEmptyElement { skipDepth = reader.depth }
                    continue
                }
                stack.append(name)
                text = ""
                let path = stack.dropFirst().joined(separator: "/")
                if path == lineTag { current = Fields(); lineAC.append([]) }
                if path == lineTag + "/SpecifiedLineTradeSettlement/SpecifiedTradeAllowanceCharge" { currentLineAC = Fields() }
                if path == settle + "/SpecifiedTradeAllowanceCharge" || path == settle + "/ApplicableTradeTax" { current = Fields() }
                for attr in ["unitCode", "currencyID"] {
                    if let v = reader.attribute(attr) { current.attributes[path + "@" + attr] = v; currentLineAC.attributes[path + "@" + attr] = v }
                }
                if name == "TaxTotalAmount" { taxTotals.append(("", reader.attribute("currencyID"))) }
                if !reader.isEmptyElement { continue }
            case .endElement:
                break
            }
            guard stack.count > 1 else { break }
            let path = stack.dropFirst().joined(separator: "/")
            let value = text.trimmed
            text = ""
            stack.removeLast()

            if path == lineTag { lines.append(current); continue }
            if path.hasPrefix(lineTag + "/SpecifiedLineTradeSettlement/SpecifiedTradeAllowanceCharge") {
                let base = lineTag + "/SpecifiedLineTradeSettlement/SpecifiedTradeAllowanceCharge"
                if path == base { lineAC[lineAC.count - 1].append(currentLineAC) } else { currentLineAC.values[String(path.dropFirst(base.count + 1))] = value }
                continue
            }
            if path.hasPrefix(lineTag + "/") { current.values[String(path.dropFirst(lineTag.count + 1))] = value; continue }
            for group in ["SpecifiedTradeAllowanceCharge", "ApplicableTradeTax"] {
                let base = settle + "/" + group
                if path == base {
                    if group == "ApplicableTradeTax" { headerTax.append(current) } else { headerAC.append(current) }
                } else if path.hasPrefix(base + "/") {
                    current.values[String(path.dropFirst(base.count + 1))] = value
                }
            }
            if path.hasPrefix(settle + "/SpecifiedTradeAllowanceCharge") || path.hasPrefix(settle + "/ApplicableTradeTax") { continue }
            if path == settle + "/SpecifiedTradeSettlementHeaderMonetarySummation/TaxTotalAmount" {
                taxTotals[taxTotals.count - 1].0 = value
                continue
            }
            if path == settle + "/InvoiceReferencedDocument/IssuerAssignedID" { preceding.append(value); continue }
            if header.values[path] == nil { header.values[path] = value }
        }

        func pos() -> SourcePosition { SourcePosition(file: file) }
        func dec(_ s: String?, _ what: String) throws(ReckonError) -> ExactDecimal? {
            guard let s, !s.isEmpty else { return nil }
            guard let d = ExactDecimal(s) else { throw ReckonError(.badData, "\(what) is not a decimal number: \"\(s)\"", at: pos()) }
            return d
        }
        func date(_ s: String?, _ what: String) throws(ReckonError) -> CivilDate? {
            guard let s, !s.isEmpty else { return nil }
            guard let d = CivilDate(s) else { throw ReckonError(.badData, "\(what) is not a date (YYYYMMDD): \"\(s)\"", at: pos()) }
            return d
        }
        let agreement = tx + "/ApplicableHeaderTradeAgreement"
        guard let id = header["ExchangedDocument/ID"], !id.isEmpty else { throw ReckonError(.badData, "invoice without an ID (BT-1)", at: pos()) }
        guard let issue = try date(header["ExchangedDocument/IssueDateTime/DateTimeString"], "IssueDateTime") else {
            throw ReckonError(.badData, "invoice \(id) without an IssueDateTime (BT-2)", at: pos())
        }
        guard let currency = header[settle + "/InvoiceCurrencyCode"], !currency.isEmpty else {
            throw ReckonError(.badData, "invoice \(id) without an InvoiceCurrencyCode (BT-5)", at: pos())
        }
        let typeCode = header["ExchangedDocument/TypeCode"]
        var inv = Invoice(syntax: "cii", file: file, id: id, isCreditNote: typeCode == "381", issueDate: issue, currency: currency,
                          seller: .init(id: header[agreement + "/SellerTradeParty/ID"], name: header[agreement + "/SellerTradeParty/Name"]),
                          buyer: .init(id: header[agreement + "/BuyerTradeParty/ID"], name: header[agreement + "/BuyerTradeParty/Name"]))
        inv.typeCode = typeCode
        inv.taxCurrency = header[settle + "/TaxCurrencyCode"]
        inv.buyerReference = header[agreement + "/BuyerReference"]
        inv.periodStart = try date(header[settle + "/BillingSpecifiedPeriod/StartDateTime/DateTimeString"], "period start")
        inv.periodEnd = try date(header[settle + "/BillingSpecifiedPeriod/EndDateTime/DateTimeString"], "period end")
        inv.precedingInvoiceIds = preceding

        for (k, l) in lines.enumerated() where (l["AssociatedDocumentLineDocument/ParentLineID"] ?? "").isEmpty {
            let at = "/CrossIndustryInvoice/\(lineTag.replacingSlashes())[\(k + 1)]"
            guard let lid = l["AssociatedDocumentLineDocument/LineID"] else { throw ReckonError(.badData, "line without a LineID", at: SourcePosition(file: file, path: at)) }
            guard let net = try dec(l["SpecifiedLineTradeSettlement/SpecifiedTradeSettlementLineMonetarySummation/LineTotalAmount"], "LineTotalAmount") else {
                throw ReckonError(.badData, "line \(lid) without LineTotalAmount", at: SourcePosition(file: file, path: at))
            }
            let qty = try dec(l["SpecifiedLineTradeDelivery/BilledQuantity"], "BilledQuantity") ?? 1
            var line = Invoice.Line(id: lid, quantity: qty, netAmount: net, xpath: at)
            line.unitCode = l.attributes[lineTag + "/SpecifiedLineTradeDelivery/BilledQuantity@unitCode"]
            line.unitPrice = try dec(l["SpecifiedLineTradeAgreement/NetPriceProductTradePrice/ChargeAmount"], "net price")
            line.baseQuantity = try dec(l["SpecifiedLineTradeAgreement/NetPriceProductTradePrice/BasisQuantity"], "BasisQuantity")
            line.itemName = l["SpecifiedTradeProduct/Name"]
            line.itemDescription = l["SpecifiedTradeProduct/Description"]
            line.sellerItemId = l["SpecifiedTradeProduct/SellerAssignedID"]
            line.periodStart = try date(l["SpecifiedLineTradeSettlement/BillingSpecifiedPeriod/StartDateTime/DateTimeString"], "line period start")
            line.periodEnd = try date(l["SpecifiedLineTradeSettlement/BillingSpecifiedPeriod/EndDateTime/DateTimeString"], "line period end")
            line.vatCategory = l["SpecifiedLineTradeSettlement/ApplicableTradeTax/CategoryCode"]
            line.vatPercent = try dec(l["SpecifiedLineTradeSettlement/ApplicableTradeTax/RateApplicablePercent"], "line VAT rate")
            for ac in lineAC[k] { line.allowanceCharges.append(try allowanceCharge(ac, file: file)) }
            inv.lines.append(line)
        }
        for ac in headerAC { inv.allowanceCharges.append(try allowanceCharge(ac, file: file)) }
        for t in headerTax {
            guard let tax = try dec(t["CalculatedAmount"], "CalculatedAmount"), let basis = try dec(t["BasisAmount"], "BasisAmount"),
                  let cat = t["CategoryCode"] else {
                throw ReckonError(.badData, "ApplicableTradeTax needs CalculatedAmount, BasisAmount and CategoryCode", at: pos())
            }
            var sub = Invoice.TaxSubtotal(taxableAmount: basis, taxAmount: tax, category: cat)
            sub.percent = try dec(t["RateApplicablePercent"], "RateApplicablePercent")
            sub.exemptionReason = t["ExemptionReason"]
            inv.taxSubtotals.append(sub)
        }
        let sum = settle + "/SpecifiedTradeSettlementHeaderMonetarySummation/"
        inv.totals.lineExtension = try dec(header[sum + "LineTotalAmount"], "LineTotalAmount") ?? .zero
        inv.totals.allowanceTotal = try dec(header[sum + "AllowanceTotalAmount"], "AllowanceTotalAmount")
        inv.totals.chargeTotal = try dec(header[sum + "ChargeTotalAmount"], "ChargeTotalAmount")
        inv.totals.taxExclusive = try dec(header[sum + "TaxBasisTotalAmount"], "TaxBasisTotalAmount") ?? .zero
        let mainTax = taxTotals.first(where: { $0.1 == currency }) ?? taxTotals.first(where: { $0.1 == nil }) ?? taxTotals.first
        inv.totals.taxTotal = try dec(mainTax?.0, "TaxTotalAmount")
        inv.totals.taxInclusive = try dec(header[sum + "GrandTotalAmount"], "GrandTotalAmount") ?? .zero
        inv.totals.prepaid = try dec(header[sum + "TotalPrepaidAmount"], "TotalPrepaidAmount")
        inv.totals.rounding = try dec(header[sum + "RoundingAmount"], "RoundingAmount")
        inv.totals.payable = try dec(header[sum + "DuePayableAmount"], "DuePayableAmount") ?? .zero
        return inv
    }

    static func allowanceCharge(_ f: Fields, file: String) throws(ReckonError) -> Invoice.AllowanceCharge {
        guard let ind = f["ChargeIndicator/Indicator"], ind == "true" || ind == "false" else {
            throw ReckonError(.badData, "SpecifiedTradeAllowanceCharge without a ChargeIndicator", at: SourcePosition(file: file))
        }
        guard let amountText = f["ActualAmount"], let amount = ExactDecimal(amountText) else {
            throw ReckonError(.badData, "SpecifiedTradeAllowanceCharge without a valid ActualAmount", at: SourcePosition(file: file))
        }
        var ac = Invoice.AllowanceCharge(isCharge: ind == "true", amount: amount)
        ac.baseAmount = f["BasisAmount"].flatMap { ExactDecimal($0) }
        ac.percent = f["CalculationPercent"].flatMap { ExactDecimal($0) }
        ac.reason = f["Reason"]
        ac.reasonCode = f["ReasonCode"]
        ac.vatCategory = f["CategoryTradeTax/CategoryCode"]
        ac.vatPercent = f["CategoryTradeTax/RateApplicablePercent"].flatMap { ExactDecimal($0) }
        return ac
    }
}

extension String {
    /// `a/b/c` → `ram:a/ram:b/ram:c` for XPaths in messages.
    func replacingSlashes() -> String {
        split(separator: "/").map { ($0 == "SupplyChainTradeTransaction" ? "rsm:" : "ram:") + $0 }.joined(separator: "/")
    }
}
