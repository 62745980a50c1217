import ReckonCore

/// A supplier invoice or credit note as read from UBL 2.1 (later also CII and Stripe), with every
/// amount exactly as the document states it (unsigned for credit notes: `sign` says how to book it).
public struct Invoice: Sendable, Equatable {
    public struct Party: Sendable, Equatable {
        public var id: String?
        public var name: String?
        public init(id: String? = nil, name: String? = nil) {
            self.id = id
            self.name = name
        }
    }

    public struct AllowanceCharge: Sendable, Equatable {
        public var isCharge: Bool
        public var amount: ExactDecimal
        public var baseAmount: ExactDecimal?
        public var percent: ExactDecimal?
        public var reason: String?
        public var reasonCode: String?
        public var vatCategory: String?
        public var vatPercent: ExactDecimal?
        public init(isCharge: Bool, amount: ExactDecimal) {
            self.isCharge = isCharge
            self.amount = amount
        }
    }

    public struct Line: Sendable, Equatable {
        public var id: String
        public var quantity: ExactDecimal
        public var unitCode: String?
        public var netAmount: ExactDecimal
        public var unitPrice: ExactDecimal?
        public var baseQuantity: ExactDecimal?
        public var itemName: String?
        public var itemDescription: String?
        public var sellerItemId: String?
        public var periodStart: CivilDate?
        public var periodEnd: CivilDate?
        public var vatCategory: String?
        public var vatPercent: ExactDecimal?
        public var allowanceCharges: [AllowanceCharge] = []
        /// Where the line is in the document (an XPath).
        public var xpath: String
        public init(id: String, quantity: ExactDecimal, netAmount: ExactDecimal, xpath: String) {
            self.id = id
            self.quantity = quantity
            self.netAmount = netAmount
            self.xpath = xpath
        }
    }

    public struct TaxSubtotal: Sendable, Equatable {
        public var taxableAmount: ExactDecimal
        public var taxAmount: ExactDecimal
        public var category: String
        public var percent: ExactDecimal?
        public var exemptionReason: String?
        public init(taxableAmount: ExactDecimal, taxAmount: ExactDecimal, category: String) {
            self.taxableAmount = taxableAmount
            self.taxAmount = taxAmount
            self.category = category
        }
    }

    public struct Totals: Sendable, Equatable {
        public var lineExtension: ExactDecimal = .zero
        public var allowanceTotal: ExactDecimal?
        public var chargeTotal: ExactDecimal?
        public var taxExclusive: ExactDecimal = .zero
        public var taxTotal: ExactDecimal?
        public var taxInclusive: ExactDecimal = .zero
        public var prepaid: ExactDecimal?
        public var rounding: ExactDecimal?
        public var payable: ExactDecimal = .zero
        public init() {}
    }

    /// `ubl` today; `cii` and `stripe` come with their readers.
    public var syntax: String
    public var file: String
    public var id: String
    public var typeCode: String?
    public var isCreditNote: Bool
    public var issueDate: CivilDate
    public var currency: String
    public var taxCurrency: String?
    public var periodStart: CivilDate?
    public var periodEnd: CivilDate?
    public var seller: Party
    public var buyer: Party
    public var buyerReference: String?
    public var precedingInvoiceIds: [String] = []
    public var lines: [Line] = []
    public var allowanceCharges: [AllowanceCharge] = []
    public var taxSubtotals: [TaxSubtotal] = []
    public var totals = Totals()

    public init(syntax: String, file: String, id: String, isCreditNote: Bool, issueDate: CivilDate, currency: String,
                seller: Party, buyer: Party) {
        self.syntax = syntax
        self.file = file
        self.id = id
        self.isCreditNote = isCreditNote
        self.issueDate = issueDate
        self.currency = currency
        self.seller = seller
        self.buyer = buyer
    }

    /// +1 for invoices, -1 for credit notes: multiply a document amount by it to book it.
    public var sign: ExactDecimal { isCreditNote ? -1 : 1 }
}

// MARK: - Staging form (JSON), read back by the transform stage

extension Invoice.AllowanceCharge {
    var json: JSONValue {
        .object([
            ("charge", .bool(isCharge)), ("amount", .decimal(amount)),
            ("base_amount", baseAmount.map(JSONValue.decimal) ?? .null),
            ("percent", percent.map(JSONValue.decimal) ?? .null),
            ("reason", .optional(reason)), ("reason_code", .optional(reasonCode)),
            ("vat_category", .optional(vatCategory)),
            ("vat_percent", vatPercent.map(JSONValue.decimal) ?? .null),
        ])
    }

    init(json j: JSONValue) throws(StagingDecodeError) {
        self.init(isCharge: try j.required("charge", \.bool), amount: try j.requiredDecimal("amount"))
        baseAmount = try j.optionalDecimal("base_amount")
        percent = try j.optionalDecimal("percent")
        reason = j["reason"]?.string
        reasonCode = j["reason_code"]?.string
        vatCategory = j["vat_category"]?.string
        vatPercent = try j.optionalDecimal("vat_percent")
    }
}

extension Invoice {
    /// The invoice as one JSON object (a line of `staging/extract/invoices.jsonl`).
    public var json: JSONValue {
        let dates: (CivilDate?) -> JSONValue = { $0.map { .string($0.description) } ?? .null }
        let dec: (ExactDecimal?) -> JSONValue = { $0.map(JSONValue.decimal) ?? .null }
        return .object([
            ("syntax", .string(syntax)), ("file", .string(file)), ("id", .string(id)),
            ("type_code", .optional(typeCode)), ("credit_note", .bool(isCreditNote)),
            ("issue_date", .string(issueDate.description)), ("currency", .string(currency)),
            ("tax_currency", .optional(taxCurrency)),
            ("period_start", dates(periodStart)), ("period_end", dates(periodEnd)),
            ("seller", .object([("id", .optional(seller.id)), ("name", .optional(seller.name))])),
            ("buyer", .object([("id", .optional(buyer.id)), ("name", .optional(buyer.name))])),
            ("buyer_reference", .optional(buyerReference)),
            ("preceding_invoice_ids", .array(precedingInvoiceIds.map(JSONValue.string))),
            ("lines", .array(lines.map { l in
                .object([
                    ("id", .string(l.id)), ("quantity", .decimal(l.quantity)), ("unit_code", .optional(l.unitCode)),
                    ("net_amount", .decimal(l.netAmount)), ("unit_price", dec(l.unitPrice)),
                    ("base_quantity", dec(l.baseQuantity)), ("item_name", .optional(l.itemName)),
                    ("item_description", .optional(l.itemDescription)), ("seller_item_id", .optional(l.sellerItemId)),
                    ("period_start", dates(l.periodStart)), ("period_end", dates(l.periodEnd)),
                    ("vat_category", .optional(l.vatCategory)), ("vat_percent", dec(l.vatPercent)),
                    ("allowance_charges", .array(l.allowanceCharges.map(\.json))), ("xpath", .string(l.xpath)),
                ])
            })),
            ("allowance_charges", .array(allowanceCharges.map(\.json))),
            ("tax_subtotals", .array(taxSubtotals.map { t in
                .object([
                    ("taxable_amount", .decimal(t.taxableAmount)), ("tax_amount", .decimal(t.taxAmount)),
                    ("category", .string(t.category)), ("percent", dec(t.percent)),
                    ("exemption_reason", .optional(t.exemptionReason)),
                ])
            })),
            ("totals", .object([
                ("line_extension", .decimal(totals.lineExtension)), ("allowance_total", dec(totals.allowanceTotal)),
                ("charge_total", dec(totals.chargeTotal)), ("tax_exclusive", .decimal(totals.taxExclusive)),
                ("tax_total", dec(totals.taxTotal)), ("tax_inclusive", .decimal(totals.taxInclusive)),
                ("prepaid", dec(totals.prepaid)), ("rounding", dec(totals.rounding)),
                ("payable", .decimal(totals.payable)),
            ])),
        ])
    }

    /// Reads the staging form back.
    public init(json j: JSONValue) throws(StagingDecodeError) {
        func date(_ v: JSONValue?) throws(StagingDecodeError) -> CivilDate? {
            guard let v, !v.isNull else { return nil }
            guard let s = v.string, let d = CivilDate(s) else { throw StagingDecodeError(field: "date") }
            return d
        }
        guard let issue = try date(j["issue_date"]) else { throw StagingDecodeError(field: "issue_date") }
        let seller = j["seller"], buyer = j["buyer"]
        self.init(syntax: try j.required("syntax", \.string), file: try j.required("file", \.string),
                  id: try j.required("id", \.string), isCreditNote: try j.required("credit_note", \.bool),
                  issueDate: issue, currency: try j.required("currency", \.string),
                  seller: Party(id: seller?["id"]?.string, name: seller?["name"]?.string),
                  buyer: Party(id: buyer?["id"]?.string, name: buyer?["name"]?.string))
        typeCode = j["type_code"]?.string
        taxCurrency = j["tax_currency"]?.string
        periodStart = try date(j["period_start"])
        periodEnd = try date(j["period_end"])
        buyerReference = j["buyer_reference"]?.string
        precedingInvoiceIds = (j["preceding_invoice_ids"]?.array ?? []).compactMap(\.string)
        for l in j["lines"]?.array ?? [] {
            var line = Line(id: try l.required("id", \.string), quantity: try l.requiredDecimal("quantity"),
                            netAmount: try l.requiredDecimal("net_amount"), xpath: try l.required("xpath", \.string))
            line.unitCode = l["unit_code"]?.string
            line.unitPrice = try l.optionalDecimal("unit_price")
            line.baseQuantity = try l.optionalDecimal("base_quantity")
            line.itemName = l["item_name"]?.string
            line.itemDescription = l["item_description"]?.string
            line.sellerItemId = l["seller_item_id"]?.string
            line.periodStart = try date(l["period_start"])
            line.periodEnd = try date(l["period_end"])
            line.vatCategory = l["vat_category"]?.string
            line.vatPercent = try l.optionalDecimal("vat_percent")
            for a in l["allowance_charges"]?.array ?? [] { line.allowanceCharges.append(try AllowanceCharge(json: a)) }
            lines.append(line)
        }
        for a in j["allowance_charges"]?.array ?? [] { allowanceCharges.append(try AllowanceCharge(json: a)) }
        for t in j["tax_subtotals"]?.array ?? [] {
            var sub = TaxSubtotal(taxableAmount: try t.requiredDecimal("taxable_amount"),
                                  taxAmount: try t.requiredDecimal("tax_amount"), category: try t.required("category", \.string))
            sub.percent = try t.optionalDecimal("percent")
            sub.exemptionReason = t["exemption_reason"]?.string
            taxSubtotals.append(sub)
        }
        guard let t = j["totals"] else { throw StagingDecodeError(field: "totals") }
        totals.lineExtension = try t.requiredDecimal("line_extension")
        totals.allowanceTotal = try t.optionalDecimal("allowance_total")
        totals.chargeTotal = try t.optionalDecimal("charge_total")
        totals.taxExclusive = try t.requiredDecimal("tax_exclusive")
        totals.taxTotal = try t.optionalDecimal("tax_total")
        totals.taxInclusive = try t.requiredDecimal("tax_inclusive")
        totals.prepaid = try t.optionalDecimal("prepaid")
        totals.rounding = try t.optionalDecimal("rounding")
        totals.payable = try t.requiredDecimal("payable")
    }
}

/// A staging file that does not have the shape its reader expects (a bug or a hand-edited file).
public struct StagingDecodeError: Error, Sendable, CustomStringConvertible {
    public var field: String
    public var description: String { "missing or invalid field \"\(field)\"" }
}

extension JSONValue {
    func required<T>(_ key: String, _ get: (JSONValue) -> T?) throws(StagingDecodeError) -> T {
        guard let v = self[key], let t = get(v) else { throw StagingDecodeError(field: key) }
        return t
    }

    func requiredDecimal(_ key: String) throws(StagingDecodeError) -> ExactDecimal {
        guard let d = self[key]?.decimal else { throw StagingDecodeError(field: key) }
        return d
    }

    func optionalDecimal(_ key: String) throws(StagingDecodeError) -> ExactDecimal? {
        guard let v = self[key], !v.isNull else { return nil }
        guard let d = v.decimal else { throw StagingDecodeError(field: key) }
        return d
    }
}
