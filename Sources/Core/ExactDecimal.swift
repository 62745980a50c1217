/// An exact decimal number, `significand × 10^-scale`: the one numeric type for every amount,
/// price and quantity in Reckon.
///
/// - The significand is a 128-bit signed integer (±1.7 × 10^38), the scale 0…38 fractional digits.
///   A per-token price such as `0.0000000375` is held exactly (significand 375, scale 10), and
///   10^9 rows of $10^9 each at 12 fractional digits still sum without overflow (10^30 < 10^38).
/// - Arithmetic never rounds. `+`, `-` and `*` are exact; an overflow of the 128-bit significand
///   traps, as `Int` arithmetic does (a value that large cannot come from a real bill).
///   Rounding happens only through `rounded(scale:_:)`, with the rule named by the caller.
/// - Equality is by value: `2.0 == 2.00`, and equal values hash alike.
/// - Text: `description` is FOCUS NumericFormat (`-123.45`, no exponent, no `+`, no separators)
///   and always carries a fractional part (`2000000.0`), because the official FOCUS validator
///   types a column whose values all look like integers as Integer, not Decimal.
///
/// No binary floating point is used anywhere in this type; `Tests/CoreTests` checks that.
public struct ExactDecimal: Sendable {
    /// The integer digits of the value, sign included.
    public let significand: Int128
    /// How many of the significand's digits are fractional (0…`maxScale`).
    public let scale: Int

    /// The largest scale a value may carry.
    public static let maxScale = 38
    /// The most fractional digits accepted when parsing text (inputs beyond it are bad data).
    public static let maxParsedFractionDigits = 18

    @usableFromInline
    static let powersOfTen: [Int128] = {
        var table: [Int128] = [1]
        for _ in 1...38 { table.append(table[table.count - 1] * 10) }
        return table
    }()

    /// Creates `significand × 10^-scale`.
    /// - Precondition: `0 <= scale <= maxScale`.
    @inlinable
    public init(significand: Int128, scale: Int) {
        precondition(scale >= 0 && scale <= Self.maxScale, "ExactDecimal scale \(scale) out of range")
        self.significand = significand
        self.scale = scale
    }

    public init(_ value: Int) {
        self.init(significand: Int128(value), scale: 0)
    }

    public static let zero = ExactDecimal(significand: 0, scale: 0)

    @inlinable public var isZero: Bool { significand == 0 }
    public var isNegative: Bool { significand < 0 }
    /// -1, 0 or 1.
    public var signum: Int { significand == 0 ? 0 : (significand < 0 ? -1 : 1) }
    public var magnitude: ExactDecimal {
        significand < 0 ? ExactDecimal(significand: -significand, scale: scale) : self
    }

    /// The same value with trailing fractional zeros removed (smallest scale that is exact).
    /// - Complexity: O(scale).
    public var normalized: ExactDecimal {
        if scale == 0 || significand == 0 { return ExactDecimal(significand: significand, scale: 0) }
        if let small = Int64(exactly: significand) {
            // 64-bit division is far cheaper than 128-bit.
            var s = small, k = scale
            while k > 0 && s % 10 == 0 { s /= 10; k -= 1 }
            return ExactDecimal(significand: Int128(s), scale: k)
        }
        var s = significand
        var k = scale
        while k > 0 && s % 10 == 0 {
            s /= 10
            k -= 1
        }
        return ExactDecimal(significand: s, scale: k)
    }

    /// The same value at a larger scale (no rounding involved); `nil` if the significand overflows.
    @inlinable
    func rescaled(to newScale: Int) -> Int128? {
        if newScale == scale { return significand }
        precondition(newScale > scale)
        let (v, overflow) = significand.multipliedReportingOverflow(by: Self.powersOfTen[newScale - scale])
        return overflow ? nil : v
    }

    /// Divides by 10^`n` exactly (shifts the decimal point); used to turn 1,234 tokens into
    /// 0.001234 of a "1000000 Tokens" pricing unit.
    @inlinable
    public func shiftedLeft(by n: Int) -> ExactDecimal {
        precondition(n >= 0)
        if scale + n <= Self.maxScale { return ExactDecimal(significand: significand, scale: scale + n) }
        let norm = normalized
        precondition(norm.scale + n <= Self.maxScale, "ExactDecimal: \(self) / 10^\(n) needs more than \(Self.maxScale) digits")
        return ExactDecimal(significand: norm.significand, scale: norm.scale + n)
    }
}

// MARK: - Arithmetic (exact)

extension ExactDecimal: AdditiveArithmetic {
    @inlinable
    public static func + (lhs: ExactDecimal, rhs: ExactDecimal) -> ExactDecimal {
        if lhs.scale == rhs.scale {
            let (v, o) = lhs.significand.addingReportingOverflow(rhs.significand)
            precondition(!o, "ExactDecimal overflow in \(lhs) + \(rhs)")
            return ExactDecimal(significand: v, scale: lhs.scale)
        }
        let s = Swift.max(lhs.scale, rhs.scale)
        guard let a = lhs.rescaled(to: s), let b = rhs.rescaled(to: s) else {
            preconditionFailure("ExactDecimal overflow in \(lhs) + \(rhs)")
        }
        let (v, o) = a.addingReportingOverflow(b)
        precondition(!o, "ExactDecimal overflow in \(lhs) + \(rhs)")
        return ExactDecimal(significand: v, scale: s)
    }

    @inlinable
    public static func - (lhs: ExactDecimal, rhs: ExactDecimal) -> ExactDecimal {
        lhs + (-rhs)
    }

    @inlinable
    public static prefix func - (value: ExactDecimal) -> ExactDecimal {
        ExactDecimal(significand: -value.significand, scale: value.scale)
    }

    @inlinable
    public static func * (lhs: ExactDecimal, rhs: ExactDecimal) -> ExactDecimal {
        var (v, o) = lhs.significand.multipliedReportingOverflow(by: rhs.significand)
        var s = lhs.scale + rhs.scale
        if o || s > maxScale {
            // Try again without trailing zeros before giving up.
            let a = lhs.normalized, b = rhs.normalized
            (v, o) = a.significand.multipliedReportingOverflow(by: b.significand)
            s = a.scale + b.scale
            precondition(!o, "ExactDecimal overflow in \(lhs) * \(rhs)")
            while s > maxScale && v % 10 == 0 { v /= 10; s -= 1 }
            precondition(s <= maxScale, "ExactDecimal: \(lhs) * \(rhs) needs more than \(maxScale) fractional digits")
        }
        return ExactDecimal(significand: v, scale: s)
    }

    @inlinable public static func += (lhs: inout ExactDecimal, rhs: ExactDecimal) { lhs = lhs + rhs }
    @inlinable public static func -= (lhs: inout ExactDecimal, rhs: ExactDecimal) { lhs = lhs - rhs }
    @inlinable public static func *= (lhs: inout ExactDecimal, rhs: ExactDecimal) { lhs = lhs * rhs }
}

// MARK: - Rounding and division (only where a document says so)

/// How a value is rounded to a number of fractional digits. Every call site names its rule.
public enum RoundingRule: String, Sendable, CaseIterable {
    /// Ties away from zero: 2.345 → 2.35, -2.345 → -2.35 (commercial rounding; invoices).
    case halfAwayFromZero
    /// Ties to the even neighbour: 2.345 → 2.34, 2.355 → 2.36 (banker's rounding).
    case halfEven
    /// Ties toward +∞: -2.345 → -2.34. This is XPath's `round(x*100) div 100`, which the
    /// EN 16931 schematron rules (BR-CO-*) use.
    case halfTowardPositiveInfinity
    /// Drop the extra digits.
    case towardZero
}

extension ExactDecimal {
    /// This value rounded to at most `newScale` fractional digits by `rule`.
    /// A value that already fits is returned unchanged (its scale is kept).
    public func rounded(scale newScale: Int, _ rule: RoundingRule) -> ExactDecimal {
        precondition(newScale >= 0 && newScale <= Self.maxScale)
        guard scale > newScale else { return self }
        let divisor = Self.powersOfTen[scale - newScale]
        let q = Self.divide(significand, by: divisor, rule)
        return ExactDecimal(significand: q, scale: newScale)
    }

    /// `self / divisor`, rounded to `scale` fractional digits by `rule`; `nil` when dividing by zero.
    /// Used for proration and unit conversion, never for plain sums.
    public func divided(by divisor: ExactDecimal, scale resultScale: Int, _ rule: RoundingRule) -> ExactDecimal? {
        guard !divisor.isZero else { return nil }
        // self / divisor = (a / 10^sa) / (b / 10^sb) = a * 10^(sb - sa) / b
        // result significand = a * 10^(resultScale + sb - sa) / b
        let shift = resultScale + divisor.scale - scale
        var numerator = significand
        var denominator = divisor.significand
        if shift >= 0 {
            let (v, o) = numerator.multipliedReportingOverflow(by: Self.powersOfTen[shift])
            precondition(!o, "ExactDecimal overflow in \(self) / \(divisor)")
            numerator = v
        } else {
            let (v, o) = denominator.multipliedReportingOverflow(by: Self.powersOfTen[-shift])
            precondition(!o, "ExactDecimal overflow in \(self) / \(divisor)")
            denominator = v
        }
        if denominator < 0 { numerator = -numerator; denominator = -denominator }
        return ExactDecimal(significand: Self.divide(numerator, by: denominator, rule), scale: resultScale)
    }

    /// Integer division of `n` by a positive `d` with the given tie rule.
    @usableFromInline
    static func divide(_ n: Int128, by d: Int128, _ rule: RoundingRule) -> Int128 {
        let (q, r) = n.quotientAndRemainder(dividingBy: d)  // q truncated toward zero, r has n's sign
        if r == 0 || rule == .towardZero { return q }
        let twice = r.magnitude * 2
        let dm = d.magnitude
        let away: Int128 = n < 0 ? -1 : 1
        if twice > dm { return q + away }
        if twice < dm { return q }
        switch rule {
        case .halfAwayFromZero: return q + away
        case .halfEven: return q % 2 == 0 ? q : q + away
        case .halfTowardPositiveInfinity: return n < 0 ? q : q + 1
        case .towardZero: return q
        }
    }
}

// MARK: - Comparison and hashing (by value)

extension ExactDecimal: Comparable, Hashable {
    public static func == (lhs: ExactDecimal, rhs: ExactDecimal) -> Bool {
        compare(lhs, rhs) == 0
    }

    public static func < (lhs: ExactDecimal, rhs: ExactDecimal) -> Bool {
        compare(lhs, rhs) < 0
    }

    static func compare(_ lhs: ExactDecimal, _ rhs: ExactDecimal) -> Int {
        if lhs.scale == rhs.scale {
            return lhs.significand == rhs.significand ? 0 : (lhs.significand < rhs.significand ? -1 : 1)
        }
        let s = Swift.max(lhs.scale, rhs.scale)
        switch (lhs.rescaled(to: s), rhs.rescaled(to: s)) {
        case let (a?, b?): return a == b ? 0 : (a < b ? -1 : 1)
        // Only the value being scaled up can overflow, and then it is the larger in magnitude.
        case (nil, _): return lhs.signum
        case (_, nil): return -rhs.signum
        }
    }

    public func hash(into hasher: inout Hasher) {
        let n = normalized
        hasher.combine(n.significand)
        hasher.combine(n.scale)
    }
}

extension ExactDecimal: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int) { self.init(value) }
}

/// Literals are for tests and constants: `let price: ExactDecimal = "0.0000000375"`.
/// An invalid literal traps; parse untrusted text with `ExactDecimal(parsing:)`.
extension ExactDecimal: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        guard let v = ExactDecimal(value) else { preconditionFailure("invalid ExactDecimal literal \(value)") }
        self = v
    }
}

extension Sequence where Element == ExactDecimal {
    /// The exact sum. - Complexity: O(n).
    public func sum() -> ExactDecimal { reduce(.zero, +) }
}
