import Testing
@testable import TollgateCore

@Suite struct MoneyTests {
    @Test(arguments: [
        ("2.50", 2_500_000_000), ("0.0375", 37_500_000), ("0.546875", 546_875_000), ("0", 0), ("15", 15_000_000_000),
        ("0.000000001", 1), ("5.46875e-07", 546), ("1e3", 1_000_000_000_000), ("+3.1", 3_100_000_000),
    ] as [(String, Int64)])
    func parsesDecimalsExactly(_ text: String, _ nanos: Int64) throws {
        if text == "5.46875e-07" {
            // 5.46875e-07 has 14 decimal places: exact parsing refuses it at scale 9, rounding keeps it exact at scale 14.
            #expect(throws: ExactDecimal.ParseError.self) { try ExactDecimal.parse(text, scale: 9) }
            #expect(try ExactDecimal.parse(text, scale: 9, rounding: .halfEven).value == 547)
            #expect(try ExactDecimal.parse(text, scale: 15).value == 546_875_000)
            return
        }
        #expect(try ExactDecimal.parse(text, scale: 9).value == nanos)
    }

    @Test func perTokenJSONNumbersBecomeExactPerMillionPrices() throws {
        // LiteLLM writes per-token prices; × 10^6 is a shift of the decimal point, never a float multiply.
        #expect(try ExactDecimal.parse("5.46875e-07", scale: 15).value == 546_875_000)  // 0.546875 per 1M, in nanos per 1M
        #expect(try ExactDecimal.parse("2e-06", scale: 15).value == 2_000_000_000)
        #expect(try ExactDecimal.parse("1.5000020000000002e-05", scale: 15, rounding: .halfEven).value == 15_000_020_000)
    }

    @Test(arguments: ["", "-", ".", "1.2.3", "1,000", "1_000", "abc", "1e", "1e+", "12a", "--1", "1e9999"])
    func rejectsMalformedAmounts(_ text: String) {
        #expect(throws: ExactDecimal.ParseError.self) { try ExactDecimal.parse(text, scale: 9) }
    }

    @Test func rejectsNegativeUnlessAllowed() throws {
        #expect(throws: ExactDecimal.ParseError.self) { try Money(decimal: "-1.00") }
        #expect(try Money(decimal: "-1.25", allowNegative: true).nanos == -1_250_000_000)
    }

    @Test func roundsHalfToEven() throws {
        #expect(try ExactDecimal.parse("0.5", scale: 0, rounding: .halfEven).value == 0)
        #expect(try ExactDecimal.parse("1.5", scale: 0, rounding: .halfEven).value == 2)
        #expect(try ExactDecimal.parse("2.5000001", scale: 0, rounding: .halfEven).value == 3)
        #expect(try ExactDecimal.parse("0.0000000004", scale: 9, rounding: .halfEven).value == 0)
    }

    @Test func int64Edges() throws {
        // Int64.max nanos = 9,223,372,036.854775807 units: the largest counter.
        #expect(try Money(decimal: "9223372036.854775807").nanos == .max)
        #expect(throws: ExactDecimal.ParseError.self) { try Money(decimal: "9223372036.854775808") }
        #expect(Money(nanos: .max).decimalString == "9223372036.854775807")
        #expect(Money(nanos: .max).adding(Money(nanos: 1)) == nil)
    }

    @Test(arguments: [(Int64(0), "0.00"), (1, "0.000000001"), (2_500_000_000, "2.50"), (-1_250_000_000, "-1.25"), (546_875, "0.000546875")])
    func formatsDecimals(_ nanos: Int64, _ text: String) {
        #expect(Money(nanos: nanos).decimalString == text)
    }

    @Test func currenciesAndMinorUnits() throws {
        let ngn = try #require(Currency(code: "ngn"))
        #expect(ngn.code == "NGN" && ngn.minorDigits == 2)
        #expect(Currency(code: "JPY")?.minorDigits == 0)
        #expect(Currency(code: "KWD")?.minorDigits == 3)
        #expect(Currency(code: "XYZ") == nil)
        #expect(try Money(decimal: "1.005", currency: ngn).minorUnits == 101)  // kobo, half up
        #expect(try Money(decimal: "1500", currency: #require(Currency(code: "JPY"))).decimalString == "1500")
    }
}
