import ReckonCore
import ReckonExtract
import ReckonFocus
import ReckonPricing

/// Builds `focus/invoiced`: one invoice as FOCUS rows, InvoiceId set on every row.
///
/// - lines → Usage (the seller item id is a Reckon SkuId with a known meter) or Purchase (Recurring);
///   BilledCost = EffectiveCost = the line net amount (BT-131), ListCost = ContractedCost = unit price ×
///   PricingQuantity as stated (so the line's own rounding stays visible);
/// - document allowances → Credit; document charges → Adjustment;
/// - each VAT category and rate (BG-23) → one Tax row;
/// - rounding (BT-114) → Adjustment `x_ChargeSubType=Rounding`;
/// - amounts paid in advance (BT-113) → Adjustment `x_ChargeSubType=Prepayment applied`, negative,
///   so that Σ BilledCost per InvoiceId equals the amount due (BT-115), as FOCUS 1.3 requires.
/// Credit notes book every amount negated.
public struct InvoicedRowBuilder {
    public let accounts: AccountNames
    /// Item name/description → SkuId for lines whose seller item id is not one (`invoice_lines.csv`).
    public let linePatterns: InvoiceLinePatterns

    public init(accounts: AccountNames, linePatterns: InvoiceLinePatterns = .init()) {
        self.accounts = accounts
        self.linePatterns = linePatterns
    }

    /// The billing period an invoice belongs to: the month its invoicing period (BG-14) starts in,
    /// or else the month of its issue date. A document that corrects an earlier period (see
    /// `correctedPeriod`) belongs to the month it is issued in.
    public static func billingPeriod(of invoice: Invoice, corrects: BillingPeriod? = nil) -> BillingPeriod {
        if corrects != nil { return BillingPeriod(year: invoice.issueDate.year, month: invoice.issueDate.month)! }
        let day = invoice.periodStart ?? invoice.issueDate
        return BillingPeriod(year: day.year, month: day.month)!
    }

    /// The earlier billing period a credit note (or a negative invoice) corrects: the period of the
    /// invoice it references when that invoice is among the inputs (`known`), else its own
    /// invoicing period — when that period ended before the month the document is issued in.
    /// Corrections inside the same, still open period are not corrections in FOCUS terms.
    public static func correctedPeriod(of invoice: Invoice, known: [String: BillingPeriod]) -> BillingPeriod? {
        let negative = invoice.totals.payable.isNegative
        guard invoice.isCreditNote || negative else { return nil }
        let issued = BillingPeriod(year: invoice.issueDate.year, month: invoice.issueDate.month)!
        let original = invoice.precedingInvoiceIds.compactMap { known[$0] }.min()
            ?? invoice.periodStart.map { BillingPeriod(year: $0.year, month: $0.month)! }
        guard let original, original < issued else { return nil }
        return original
    }

    /// The provider an invoice is from: the `provider=` folder it sits in, else its seller's name.
    public static func provider(of invoice: Invoice) -> String {
        hivePartitions(of: invoice.file)["provider"] ?? (invoice.seller.name ?? "unknown").lowercased()
    }

    /// - Throws: `ReckonError.badData` when the invoice names no buyer account, or when its rows do
    ///   not add up to its amount due (which EN 16931-valid invoices always do).
    /// - Parameter corrects: the earlier, already-invoiced billing period this document corrects:
    ///   its rows are `ChargeClass=Correction` in the issue month, with the original charge period.
    public func rows(for invoice: Invoice, corrects: BillingPeriod? = nil) throws(ReckonError) -> [FocusRow] {
        let at = SourcePosition(file: invoice.file)
        guard let account = invoice.buyer.id ?? invoice.buyerReference, !account.isEmpty else {
            throw ReckonError(.badData, "invoice \(invoice.id) names no buyer account (AccountingCustomerParty PartyIdentification ID or BuyerReference)", at: at)
        }
        let provider = Self.provider(of: invoice)
        let profile = ProviderProfile.named(provider)
        let billing = Self.billingPeriod(of: invoice, corrects: corrects)
        let sign = invoice.sign
        var docStart = (invoice.periodStart ?? invoice.issueDate).startOfDay
        var docEnd = (invoice.periodEnd ?? invoice.periodStart ?? invoice.issueDate).adding(days: 1).startOfDay
        if let corrects, invoice.periodStart == nil || BillingPeriod(containing: docStart) != corrects {
            docStart = corrects.start
            docEnd = corrects.end
        }

        func base(_ category: String, _ description: String, billed: ExactDecimal) -> FocusRow {
            var r = FocusRow()
            r.set(.billedCost, billed)
            r.set(.effectiveCost, billed)
            r.set(.billingAccountId, account)
            r.set(.billingAccountName, accounts.billingAccountName(provider: provider, id: account) ?? invoice.buyer.name ?? account)
            r.set(.billingCurrency, invoice.currency)
            r.set(.billingPeriodStart, billing.start)
            r.set(.billingPeriodEnd, billing.end)
            r.set(.chargeCategory, category)
            r.set(.chargeDescription, description)
            r.set(.chargePeriodStart, docStart)
            r.set(.chargePeriodEnd, docEnd)
            r.set(.invoiceId, invoice.id)
            if corrects != nil { r.set(.chargeClass, "Correction") }
            r.setService(profile)
            r.set(.pricingCurrency, invoice.currency)
            r.set(.pricingCurrencyEffectiveCost, billed)
            return r
        }
        /// A row without price or quantity (Tax, Credit, Adjustment): all four costs equal.
        func flat(_ category: String, _ description: String, _ amount: ExactDecimal, subType: String?) -> FocusRow {
            var r = base(category, description, billed: amount)
            r.set(.listCost, amount)
            r.set(.contractedCost, amount)
            r.set(.chargeFrequency, "One-Time")
            r.set(.xChargeSubType, subType)
            return r
        }

        var rows: [FocusRow] = []
        for line in invoice.lines {
            let billed = sign * line.netAmount
            let itemId = line.sellerItemId.flatMap { SkuReference($0) != nil ? $0 : nil }
                ?? linePatterns.skuId(provider: provider, name: line.itemName, description: line.itemDescription)
                ?? line.sellerItemId
            let sku = itemId.flatMap(SkuReference.init)
            let isUsage = sku.map { Meter.catalog[$0.meter] != nil } ?? false
            var r = base(isUsage ? "Usage" : "Purchase", line.itemName ?? line.itemDescription ?? "Invoice line \(line.id)", billed: billed)
            // Price per pricing unit: the stated net price per BaseQuantity (BT-146 / BT-149).
            let baseQty = line.baseQuantity ?? 1
            let meter = sku.flatMap { Meter.catalog[$0.meter] }
            let unitName = meter?.consumedUnit ?? UnitCodes.name(line.unitCode)
            let pricingQuantity: ExactDecimal
            let pricingUnit: String
            if let exp = baseQty.powerOfTenExponent {
                pricingQuantity = sign * line.quantity.shiftedLeft(by: exp)
                pricingUnit = exp == 0 ? unitName : "\(baseQty.normalized.significand) \(unitName)"
            } else {
                // A base quantity such as 366 days: price per single unit, rounded to 12 decimals
                // (half away from zero); the row's List/ContractedCost follow from that price.
                pricingQuantity = sign * line.quantity
                pricingUnit = unitName
            }
            let unitPrice: ExactDecimal = {
                guard let p = line.unitPrice else {
                    return line.quantity.isZero ? .zero : (line.netAmount.divided(by: line.quantity, scale: 12, .halfAwayFromZero) ?? .zero)
                }
                if baseQty.powerOfTenExponent != nil { return p }
                return p.divided(by: baseQty, scale: 12, .halfAwayFromZero) ?? p
            }()
            let listCost = unitPrice * pricingQuantity
            r.set(.listCost, listCost)
            r.set(.contractedCost, listCost)
            r.set(.listUnitPrice, unitPrice)
            r.set(.contractedUnitPrice, unitPrice)
            r.set(.pricingCurrencyListUnitPrice, unitPrice)
            r.set(.pricingCurrencyContractedUnitPrice, unitPrice)
            r.set(.pricingQuantity, pricingQuantity)
            r.set(.pricingUnit, pricingUnit)
            r.set(.pricingCategory, "Standard")
            r.set(.chargeFrequency, isUsage ? "Usage-Based" : "Recurring")
            if isUsage, let meter {
                r.set(.consumedQuantity, sign * line.quantity)
                r.set(.consumedUnit, meter.consumedUnit)
                r.set(.skuMeter, meter.displayName)
            } else {
                r.set(.skuMeter, line.itemName ?? line.itemDescription ?? "Invoice line")
            }
            let skuId = itemId ?? "\(provider):invoice-line:\(line.itemName ?? line.id)"
            r.set(.skuId, skuId)
            r.set(.skuPriceId, "\(skuId):invoice:\(invoice.id)")
            if let s = line.periodStart {
                r.set(.chargePeriodStart, s.startOfDay)
                r.set(.chargePeriodEnd, (line.periodEnd ?? s).adding(days: 1).startOfDay)
            }
            r.set(.xInvoiceLineId, line.id)
            if let sku { r.set(.xModel, sku.model) }
            rows.append(r)
        }
        for ac in invoice.allowanceCharges {
            let reason = ac.reason ?? ac.reasonCode ?? (ac.isCharge ? "Charge" : "Allowance")
            if ac.isCharge {
                rows.append(flat("Adjustment", reason, sign * ac.amount, subType: "Document charge"))
            } else {
                rows.append(flat("Credit", reason, -(sign * ac.amount), subType: "Document allowance"))
            }
        }
        for t in invoice.taxSubtotals {
            let rate = t.percent.map { " \($0.normalized.significand == 0 ? "0" : Self.percentText($0))%" } ?? ""
            rows.append(flat("Tax", "VAT \(t.category)\(rate)", sign * t.taxAmount, subType: nil))
        }
        if let rounding = invoice.totals.rounding, !rounding.isZero {
            rows.append(flat("Adjustment", "Payable rounding", sign * rounding, subType: "Rounding"))
        }
        if let prepaid = invoice.totals.prepaid, !prepaid.isZero {
            rows.append(flat("Adjustment", "Amount paid in advance", -(sign * prepaid), subType: "Prepayment applied"))
        }

        let total = rows.compactMap { $0[.billedCost].decimal }.sum()
        guard total == sign * invoice.totals.payable else {
            throw ReckonError(.badData, "invoice \(invoice.id): rows add up to \(total), but the amount due is \(sign * invoice.totals.payable)", at: at)
        }
        return rows
    }

    static func percentText(_ p: ExactDecimal) -> String {
        let n = p.normalized
        return n.scale == 0 ? String(n.significand) : n.description
    }
}

/// A Reckon SkuId on an invoice line: `<provider>:<model>:<meter>`.
struct SkuReference {
    var provider: String
    var model: String
    var meter: String

    init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        provider = String(parts[0])
        model = String(parts[1])
        meter = String(parts[2])
    }
}

/// UN/ECE Recommendation 20 unit codes → FOCUS unit names.
enum UnitCodes {
    static func name(_ code: String?) -> String {
        switch code {
        case "C62", "EA", "H87", nil: return "Units"
        case "HUR": return "Hours"
        case "MIN": return "Minutes"
        case "DAY": return "Days"
        case "MON": return "Months"
        case "ANN": return "Years"
        case "4L": return "MB"
        case let other?: return other
        }
    }
}

extension ExactDecimal {
    /// `n` when the value is exactly 10^n (n ≥ 0), else `nil`.
    var powerOfTenExponent: Int? {
        let norm = normalized
        guard norm.scale == 0, norm.significand > 0 else { return nil }
        var v = norm.significand, e = 0
        while v % 10 == 0 { v /= 10; e += 1 }
        return v == 1 ? e : nil
    }
}
