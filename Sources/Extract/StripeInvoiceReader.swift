import ReckonCore

/// Reads a Stripe invoice or credit note (the JSON object the API returns) into an `Invoice`.
///
/// Stripe amounts are integers in the currency's minor unit; they are divided by 10^exponent
/// exactly (2 for USD/EUR, 0 for zero-decimal currencies such as JPY). Sub-cent unit prices come from
/// `unit_amount_decimal`. Lines: `lines.data[]` with `amount`, `quantity`, `description`, `period`,
/// `price.id`/`pricing.price_details.price` as the seller item id; proration lines keep their sign.
/// Tax: `total_taxes[]` (or the older `total_tax_amounts[]`) grouped by rate into the VAT breakdown.
/// Discounts (`total_discount_amounts[]`) become document allowances. `starting_balance` and
/// `amount_paid` are amounts already settled and become the prepaid amount, so that
/// total − prepaid = `amount_due`.
public enum StripeInvoiceReader {
    static let zeroDecimal: Set<String> = ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF",
                                           "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]

    /// The invoice, or `nil` when the bytes are not a Stripe invoice / credit note JSON object.
    public static func readIfStripe(bytes: [UInt8], file: String) throws(ReckonError) -> Invoice? {
        guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }), first == UInt8(ascii: "{") else { return nil }
        let doc: JSONValue
        do { doc = try JSONParser.parse(bytes) } catch {
            throw ReckonError(.badData, "not valid JSON: \(error.message)", at: SourcePosition(file: file, line: lineNumber(of: error.byteOffset, in: bytes)))
        }
        guard let object = doc["object"]?.string, object == "invoice" || object == "credit_note" else { return nil }
        return try read(doc, file: file)
    }

    static func read(_ doc: JSONValue, file: String) throws(ReckonError) -> Invoice {
        let at = SourcePosition(file: file)
        let isCredit = doc["object"]?.string == "credit_note"
        guard let currencyLower = doc["currency"]?.string else { throw ReckonError(.badData, "Stripe document without currency", at: at) }
        let currency = currencyLower.uppercased()
        let exponent = zeroDecimal.contains(currency) ? 0 : 2
        func money(_ v: JSONValue?, _ what: String) throws(ReckonError) -> ExactDecimal? {
            guard let v, !v.isNull else { return nil }
            guard case .number = v, let d = v.decimal, d.normalized.scale == 0 else {
                throw ReckonError(.badData, "\(what) must be an integer amount in minor units: \(JSONWriter.write(v))", at: at)
            }
            return d.shiftedLeft(by: exponent)
        }
        func day(_ v: JSONValue?) -> CivilDate? {
            guard let s = v?.decimal, let secs = Int64(exactly: s.normalized.significand) else { return nil }
            return Timestamp(secondsSinceEpoch: secs).date
        }
        guard let id = doc["number"]?.string ?? doc["id"]?.string else { throw ReckonError(.badData, "Stripe document without number or id", at: at) }
        guard let created = day(doc["created"]) else { throw ReckonError(.badData, "Stripe document without created", at: at) }
        let customer = doc["customer"]?.string ?? doc["customer"]?["id"]?.string
        var inv = Invoice(syntax: "stripe", file: file, id: id, isCreditNote: isCredit, issueDate: created, currency: currency,
                          seller: .init(id: doc["account_name"]?.string, name: doc["account_name"]?.string),
                          buyer: .init(id: customer, name: doc["customer_name"]?.string))
        inv.typeCode = isCredit ? "381" : "380"
        inv.periodStart = day(doc["period_start"])
        // Stripe period ends are the instant the next period starts: the last day is the day before.
        inv.periodEnd = day(doc["period_end"]).map { $0.adding(days: -1) }
        if isCredit, let invoiceId = doc["invoice"]?.string { inv.precedingInvoiceIds = [invoiceId] }

        for (k, l) in (doc["lines"]?["data"]?.array ?? []).enumerated() {
            let path = "$.lines.data[\(k)]"
            guard let amount = try money(l["amount"], "\(path).amount") else {
                throw ReckonError(.badData, "line without amount", at: SourcePosition(file: file, path: path))
            }
            let qty = l["quantity"]?.decimal ?? 1
            var line = Invoice.Line(id: l["id"]?.string ?? String(k + 1), quantity: qty, netAmount: amount, xpath: path)
            line.unitCode = "C62"
            let unitDecimal = l["pricing"]?["unit_amount_decimal"]?.decimal ?? l["price"]?["unit_amount_decimal"]?.decimal
                ?? l["unit_amount_decimal"]?.decimal ?? l["unit_amount"]?.decimal
            line.unitPrice = unitDecimal.map { $0.shiftedLeft(by: exponent) }
            line.itemName = l["description"]?.string
            line.sellerItemId = l["metadata"]?["reckon_sku"]?.string
                ?? l["pricing"]?["price_details"]?["price"]?.string ?? l["price"]?["id"]?.string ?? l["price"]?.string
            if let s = l["period"]?["start"], let e = l["period"]?["end"], let sd = day(s), let ed = day(e) {
                line.periodStart = sd
                line.periodEnd = ed > sd ? ed.adding(days: -1) : ed
            }
            inv.lines.append(line)
        }
        for d in doc["total_discount_amounts"]?.array ?? [] {
            guard let a = try money(d["amount"], "discount amount"), !a.isZero else { continue }
            var ac = Invoice.AllowanceCharge(isCharge: false, amount: a)
            ac.reason = d["discount"]?.string.map { "Discount \($0)" } ?? "Discount"
            inv.allowanceCharges.append(ac)
        }
        var byRate: [(key: String, taxable: ExactDecimal, tax: ExactDecimal, percent: ExactDecimal?)] = []
        for t in doc["total_taxes"]?.array ?? doc["total_tax_amounts"]?.array ?? [] {
            guard let a = try money(t["amount"], "tax amount") else { continue }
            let taxable = try money(t["taxable_amount"], "taxable_amount") ?? .zero
            let rate = t["tax_rate_details"]?["percentage_decimal"]?.decimal ?? t["percentage"]?.decimal
            let key = t["tax_rate_details"]?["tax_rate"]?.string ?? t["tax_rate"]?.string ?? rate?.description ?? "tax"
            if let i = byRate.firstIndex(where: { $0.key == key }) {
                byRate[i].taxable += taxable; byRate[i].tax += a
            } else {
                byRate.append((key, taxable, a, rate))
            }
        }
        for r in byRate {
            var sub = Invoice.TaxSubtotal(taxableAmount: r.taxable, taxAmount: r.tax, category: "S")
            sub.percent = r.percent
            inv.taxSubtotals.append(sub)
        }
        let lineTotal = inv.lines.map(\.netAmount).sum()
        let discounts = inv.allowanceCharges.map(\.amount).sum()
        let tax = inv.taxSubtotals.map(\.taxAmount).sum()
        inv.totals.lineExtension = lineTotal
        inv.totals.allowanceTotal = discounts.isZero ? nil : discounts
        inv.totals.taxExclusive = lineTotal - discounts
        inv.totals.taxTotal = tax
        let total = try money(doc["total"], "total") ?? (lineTotal - discounts + tax)
        inv.totals.taxInclusive = total
        if isCredit {
            inv.totals.payable = total
        } else {
            let due = try money(doc["amount_due"], "amount_due") ?? total
            let paid = try money(doc["amount_paid"], "amount_paid") ?? .zero
            // amount_due already nets the customer balance applied; what was paid stays payable.
            let settled = total - due
            inv.totals.prepaid = settled.isZero ? nil : settled
            inv.totals.payable = due
            _ = paid
        }
        return inv
    }
}
