import ReckonCore

/// The EN 16931 document-total arithmetic rules, checked in exact decimals.
///
/// Rounding rule (written down, as the standard's schematron does it): `round2(x)` is XPath's
/// `round(x * 100) div 100`, i.e. two decimals with ties toward +∞ (`RoundingRule.halfTowardPositiveInfinity`).
/// Every comparison is exact; absent optional totals count as 0.
public enum EN16931 {
    public struct Violation: Sendable, Equatable, CustomStringConvertible {
        public var rule: String
        public var expected: ExactDecimal
        public var stated: ExactDecimal
        public var text: String
        public var description: String {
            "\(rule): \(text): expected \(expected), the document states \(stated)"
        }
    }

    static func round2(_ x: ExactDecimal) -> ExactDecimal { x.rounded(scale: 2, .halfTowardPositiveInfinity) }

    /// Checks BR-CO-10 … BR-CO-16; returns the rules the invoice breaks (empty when it is consistent).
    public static func check(_ inv: Invoice) -> [Violation] {
        var out: [Violation] = []
        let t = inv.totals
        func rule(_ id: String, _ text: String, expected: ExactDecimal, stated: ExactDecimal) {
            if expected != stated { out.append(Violation(rule: id, expected: expected, stated: stated, text: text)) }
        }
        let allowances = inv.allowanceCharges.filter { !$0.isCharge }.map(\.amount).sum()
        let charges = inv.allowanceCharges.filter(\.isCharge).map(\.amount).sum()
        rule("BR-CO-10", "sum of line net amounts (BT-131) = line total (BT-106)",
             expected: round2(inv.lines.map(\.netAmount).sum()), stated: t.lineExtension)
        if let a = t.allowanceTotal {
            rule("BR-CO-11", "sum of document allowances = allowance total (BT-107)", expected: round2(allowances), stated: a)
        } else if !allowances.isZero {
            rule("BR-CO-11", "document allowances present but no allowance total (BT-107)", expected: round2(allowances), stated: .zero)
        }
        if let c = t.chargeTotal {
            rule("BR-CO-12", "sum of document charges = charge total (BT-108)", expected: round2(charges), stated: c)
        } else if !charges.isZero {
            rule("BR-CO-12", "document charges present but no charge total (BT-108)", expected: round2(charges), stated: .zero)
        }
        rule("BR-CO-13", "line total - allowances + charges = total without VAT (BT-109)",
             expected: round2(t.lineExtension - (t.allowanceTotal ?? .zero) + (t.chargeTotal ?? .zero)), stated: t.taxExclusive)
        let vat = t.taxTotal ?? .zero
        rule("BR-CO-14", "sum of VAT category amounts (BT-117) = total VAT (BT-110)",
             expected: round2(inv.taxSubtotals.map(\.taxAmount).sum()), stated: vat)
        rule("BR-CO-15", "total without VAT + total VAT = total with VAT (BT-112)",
             expected: round2(t.taxExclusive + vat), stated: t.taxInclusive)
        rule("BR-CO-16", "total with VAT - paid amount + rounding = amount due (BT-115)",
             expected: round2(t.taxInclusive - (t.prepaid ?? .zero) + (t.rounding ?? .zero)), stated: round2(t.payable))
        return out
    }
}
