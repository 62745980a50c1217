import ReckonCore
import ReckonFocus

/// Corrections of closed periods: what tonight's inputs say about a closed billing period, less
/// what was signed off, booked in the next open period as `ChargeClass=Correction` rows.
///
/// Rows are matched on every column except the amounts and quantities (`amounts`); for each
/// identity the correction carries tonight − signed off of each of those columns, so a late usage
/// record adds to its cell, an invoice that arrived after the close appears whole, and a removed
/// row is reversed. Unit prices are part of the identity, so a correction keeps
/// ListCost = ListUnitPrice × PricingQuantity. The charge period stays the original one; the billing
/// period becomes the open one.
///
/// Memory: O(rows of the closed period), both sides held once. Output order: tonight's rows in
/// their order, then signed-off rows that are gone, in theirs.
public enum PeriodCorrections {
    /// The columns that are summed (and so corrected by difference); every other column identifies the row.
    public static let amounts: [FocusColumn] = [.billedCost, .effectiveCost, .listCost, .contractedCost,
                                                .pricingCurrencyEffectiveCost, .consumedQuantity, .pricingQuantity]

    public static func rows(tonight: [FocusRow], signedOff: [FocusRow], bookedIn target: BillingPeriod) -> [FocusRow] {
        func identity(_ row: FocusRow) -> [UInt8] {
            var r = row
            for c in amounts { r[c] = .null }
            var bytes: [UInt8] = []
            r.appendJSONLine(to: &bytes)
            return bytes
        }
        var order: [[UInt8]] = []
        var cells: [[UInt8]: (template: FocusRow, delta: [ExactDecimal?])] = [:]
        func add(_ row: FocusRow, sign: ExactDecimal) {
            let key = identity(row)
            var cell = cells[key] ?? { order.append(key); return (row, Array(repeating: nil, count: amounts.count)) }()
            for (k, c) in amounts.enumerated() {
                guard let v = row[c].decimal else { continue }
                cell.delta[k] = (cell.delta[k] ?? .zero) + sign * v
            }
            cells[key] = cell
        }
        for row in tonight { add(row, sign: 1) }
        for row in signedOff { add(row, sign: -1) }
        var out: [FocusRow] = []
        for key in order {
            let (template, delta) = cells[key]!
            guard delta.contains(where: { $0.map { !$0.isZero } ?? false }) else { continue }
            var r = template
            for (k, c) in amounts.enumerated() { r.set(c, delta[k]) }
            r.set(.chargeClass, "Correction")
            r.set(.billingPeriodStart, target.start)
            r.set(.billingPeriodEnd, target.end)
            out.append(r)
        }
        return out
    }
}
