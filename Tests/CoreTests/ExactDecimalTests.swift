import Testing
@testable import ReckonCore

@Suite("ExactDecimal")
struct ExactDecimalTests {
    @Test func holdsPerTokenPricesExactly() {
        let price: ExactDecimal = "0.0000000375"
        #expect(price.significand == 375)
        #expect(price.scale == 10)
        #expect(price.description == "0.0000000375")
        // 40 million tokens at that price: exactly $1.50.
        #expect(price * ExactDecimal(40_000_000) == "1.5")
    }

    @Test func decimalArithmeticHasNoBinaryNoise() {
        #expect(ExactDecimal("0.1") + ExactDecimal("0.2") == ExactDecimal("0.3"))
        #expect((ExactDecimal("0.1") + ExactDecimal("0.2")).description == "0.3")
        #expect(ExactDecimal("1.10") - ExactDecimal("1.1") == .zero)
        #expect(ExactDecimal("-2.5") * ExactDecimal("4") == ExactDecimal(-10))
    }

    @Test func sumsBeyondABillionRowsWithoutOverflow() {
        // 10^9 rows of $999,999,999.999999999999 each: the sum is 10^9 times that, still exact.
        let row: ExactDecimal = "999999999.999999999999"
        let billionRows = row * ExactDecimal(1_000_000_000)
        #expect(billionRows.description == "999999999999999999.999")
        // And adding one more row's worth keeps every digit.
        #expect((billionRows + row).description == "1000000000999999999.998999999999")
        // A thousand-row sum equals the product (no drift).
        var sum = ExactDecimal.zero
        for _ in 0..<1000 { sum += "0.0000000375" }
        #expect(sum == "0.0000375")
    }

    @Test(arguments: [
        ("2000000", "2000000.0"), ("6", "6.0"), ("-10", "-10.0"), ("0", "0.0"), ("-0.00", "0.0"),
        ("1.50", "1.5"), ("0.0000000375", "0.0000000375"), ("123.45", "123.45"), ("1e-7", "0.0000001"),
        ("2.5E3", "2500.0"), ("007.10", "7.1"), ("0.34090000000000000", "0.3409"),
    ])
    func printsFocusNumericFormat(input: String, expected: String) {
        #expect(ExactDecimal(input)?.description == expected)
    }

    @Test(arguments: ["", "+1", "1,000", "$6", "NaN", "Infinity", "1.", ".", "-", "1e", "1e400", "1.2.3", " 1", "1 ",
                      "0.0000000000000000001", "123456789012345678901234567890123456789"])
    func rejectsWhatIsNotADecimalNumber(input: String) {
        #expect(ExactDecimal(input) == nil)
    }

    @Test func equalValuesAreEqualAndHashAlike() {
        let a: ExactDecimal = "2.0", b: ExactDecimal = "2.00", c: ExactDecimal = "2"
        #expect(a == b && b == c)
        #expect(Set([a, b, c]).count == 1)
        #expect(ExactDecimal("0.30") < ExactDecimal("0.301"))
        #expect(ExactDecimal("-1") < ExactDecimal("0.0000001"))
    }

    @Test(arguments: [
        // value, halfAwayFromZero, halfEven, halfTowardPositiveInfinity, towardZero (2 decimals)
        ("2.345", "2.35", "2.34", "2.35", "2.34"),
        ("2.355", "2.36", "2.36", "2.36", "2.35"),
        ("-2.345", "-2.35", "-2.34", "-2.34", "-2.34"),
        ("-2.3451", "-2.35", "-2.35", "-2.35", "-2.34"),
        ("0.005", "0.01", "0.0", "0.01", "0.0"),
        ("1.2", "1.2", "1.2", "1.2", "1.2"),
    ])
    func roundsOnlyByTheNamedRule(value: String, away: String, even: String, ceilTie: String, down: String) {
        let v = ExactDecimal(value)!
        #expect(v.rounded(scale: 2, .halfAwayFromZero) == ExactDecimal(away)!)
        #expect(v.rounded(scale: 2, .halfEven) == ExactDecimal(even)!)
        #expect(v.rounded(scale: 2, .halfTowardPositiveInfinity) == ExactDecimal(ceilTie)!)
        #expect(v.rounded(scale: 2, .towardZero) == ExactDecimal(down)!)
    }

    @Test func formatsCents() {
        #expect(ExactDecimal("1170.1779018").formatted(fractionDigits: 2, .halfAwayFromZero) == "1170.18")
        #expect(ExactDecimal("-0.0079018").formatted(fractionDigits: 2, .halfAwayFromZero) == "-0.01")
        #expect(ExactDecimal("5").formatted(fractionDigits: 2, .halfAwayFromZero) == "5.00")
        #expect(ExactDecimal("-0.001").formatted(fractionDigits: 2, .halfAwayFromZero) == "0.00")
    }

    @Test func dividesWithAStatedRule() {
        // 386.52 for 31 of 366 days (a proration), to 2 decimals half away from zero.
        let prorated = (ExactDecimal("386.52") * 31).divided(by: 366, scale: 2, .halfAwayFromZero)
        #expect(prorated == "32.74")
        #expect(ExactDecimal(1).divided(by: .zero, scale: 2, .halfEven) == nil)
        #expect(ExactDecimal(-1).divided(by: 3, scale: 4, .halfEven) == "-0.3333")
        #expect(ExactDecimal("1234567").shiftedLeft(by: 6) == "1.234567")
    }
}
