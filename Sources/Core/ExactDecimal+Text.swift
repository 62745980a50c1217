// Text forms of ExactDecimal: lenient-but-exact parsing of input numbers, FOCUS NumericFormat output.

extension ExactDecimal {
    /// Parses decimal text: `-?digits[.digits][(e|E)[+-]digits]`, as found in JSON, CSV and XML.
    /// No thousands separators, currency symbols, `+` signs, spaces, `NaN` or `Infinity`.
    /// Returns `nil` for anything else, and for values that need more than
    /// `maxParsedFractionDigits` fractional digits or 38 significant digits.
    /// - Complexity: O(n) in the text length; no allocation.
    public init?(_ text: some StringProtocol) {
        var text = String(text)
        guard let value = text.withUTF8({ ExactDecimal(utf8: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = value
    }

    /// Parses the bytes of a number (see `init?(_:)` for the grammar).
    public init?(utf8 bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        guard n > 0 else { return nil }
        // Fast path: a plain integer of up to 18 digits (token counts).
        if n <= 18 {
            var v: Int64 = 0
            var k = bytes[0] == UInt8(ascii: "-") ? 1 : 0
            let start = k
            while k < n {
                let c = bytes[k]
                guard c >= 48 && c <= 57 else { break }
                v = v &* 10 &+ Int64(c &- 48)
                k += 1
            }
            if k == n && k > start {
                self.init(significand: Int128(start == 1 ? -v : v), scale: 0)
                return
            }
        }
        var negative = false
        if bytes[0] == UInt8(ascii: "-") { negative = true; i = 1 }
        var significand: Int128 = 0
        var digits = 0            // significant digits taken (leading zeros skipped)
        var fractionDigits = 0
        var sawDigit = false
        var sawPoint = false
        while i < n {
            let c = bytes[i]
            if c >= 48 && c <= 57 {
                sawDigit = true
                if sawPoint { fractionDigits += 1 }
                if significand != 0 || c != 48 {
                    digits += 1
                    if digits > 38 { return nil }
                    significand = significand * 10 + Int128(c - 48)
                }
            } else if c == UInt8(ascii: ".") && !sawPoint {
                sawPoint = true
                guard i + 1 < n, bytes[i + 1] >= 48 && bytes[i + 1] <= 57 else { return nil }
            } else {
                break
            }
            i += 1
        }
        guard sawDigit else { return nil }
        var exponent = 0
        if i < n {
            guard bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") else { return nil }
            i += 1
            var expNegative = false
            if i < n && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) {
                expNegative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            guard i < n else { return nil }
            while i < n {
                let c = bytes[i]
                guard c >= 48 && c <= 57 else { return nil }
                exponent = exponent * 10 + Int(c - 48)
                if exponent > 100 { return nil }
                i += 1
            }
            if expNegative { exponent = -exponent }
        }
        var scale = fractionDigits - exponent
        if scale < 0 {
            guard digits - scale <= 38 else { return nil }
            significand *= Self.powersOfTen[-scale]
            scale = 0
        }
        if scale > Self.maxParsedFractionDigits {
            // Allow trailing zeros beyond the limit (e.g. "1.50000000000000000000").
            while scale > Self.maxParsedFractionDigits && significand % 10 == 0 && significand != 0 {
                significand /= 10
                scale -= 1
            }
            if significand == 0 { scale = 0 }
            guard scale <= Self.maxParsedFractionDigits else { return nil }
        }
        self.init(significand: negative ? -significand : significand, scale: scale)
    }
}

extension ExactDecimal: CustomStringConvertible, LosslessStringConvertible {
    /// FOCUS NumericFormat, shortest exact form with at least one fractional digit:
    /// `6.0`, `-10.0`, `0.0000000375`, `2000000.0`.
    public var description: String {
        let n = normalized
        return Self.render(n.significand, scale: n.scale, minimumFractionDigits: 1)
    }

    /// The value with exactly `digits` fractional digits, rounded by `rule` if it has more:
    /// `412.18`, `-0.50`. For reports and invoices that show cents.
    public func formatted(fractionDigits digits: Int, _ rule: RoundingRule) -> String {
        let r = rounded(scale: digits, rule)
        var s = r.significand
        if r.scale < digits { s *= Self.powersOfTen[digits - r.scale] }
        return Self.render(s, scale: digits, minimumFractionDigits: digits)
    }

    static func render(_ significand: Int128, scale: Int, minimumFractionDigits: Int) -> String {
        let negative = significand < 0
        var digits = String(significand.magnitude)
        if scale > 0 {
            if digits.count <= scale {
                digits = String(repeating: "0", count: scale - digits.count + 1) + digits
            }
            let split = digits.index(digits.endIndex, offsetBy: -scale)
            var fraction = String(digits[split...])
            if fraction.count < minimumFractionDigits {
                fraction += String(repeating: "0", count: minimumFractionDigits - fraction.count)
            }
            digits = String(digits[..<split]) + "." + fraction
        } else if minimumFractionDigits > 0 {
            digits += "." + String(repeating: "0", count: minimumFractionDigits)
        }
        return (negative && significand != 0 ? "-" : "") + digits
    }
}
