/// An amount of money: an integer count of nano-units (10⁻⁹ of the currency's major unit)
/// and its currency. Never a floating-point number.
///
/// Why nano-units: a price of $0.10 per million tokens is 100 nano-dollars per token, and
/// every per-1M price with up to 9 decimals is an integer number of nano-units per 1M
/// tokens. A request's cost is rounded once, half up, to a whole nano-unit: the rounding
/// error per request is at most 0.5 × 10⁻⁹ of the major unit, far below one millionth.
///
/// Range: Int64 holds ±9,223,372,036 major units (USD 9.2 billion) in one counter. Lua in
/// Redis keeps money counters as (whole units, nanos) pairs, so the scripts are exact up to
/// the same Int64 limit, and a single request's cost stays below 2^53 nanos (USD 9 million)
/// because prices and token counts are bounded (see ``Limits``).
public struct Money: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let nanosPerUnit: Int64 = 1_000_000_000

    public var nanos: Int64
    public var currency: Currency

    public init(nanos: Int64, currency: Currency = .usd) {
        self.nanos = nanos
        self.currency = currency
    }

    public static func zero(_ currency: Currency = .usd) -> Money { Money(nanos: 0, currency: currency) }

    /// Parses a decimal amount in major units ("12.50", "0.000001"); at most 9 decimals.
    public init(decimal text: String, currency: Currency = .usd, allowNegative: Bool = false) throws(ExactDecimal.ParseError) {
        let parsed = try ExactDecimal.parse(text, scale: 9, rounding: .exact, allowNegative: allowNegative)
        self.init(nanos: parsed.value, currency: currency)
    }

    /// The amount in major units as exact decimal text, at least the currency's minor digits
    /// ("12.50", "0.000546875", "1500" for JPY).
    public var decimalString: String {
        ExactDecimal.format(nanos, scale: 9, minimumFractionDigits: currency.minorDigits)
    }

    /// Whole minor units (cents, kobo), rounded half up — for invoices and displays.
    public var minorUnits: Int64 {
        let perMinor = Self.nanosPerMinorUnit(currency)
        let (quotient, remainder) = nanos.quotientAndRemainder(dividingBy: perMinor)
        if remainder * 2 >= perMinor { return quotient + 1 }
        if remainder * 2 <= -perMinor { return quotient - 1 }
        return quotient
    }

    static func nanosPerMinorUnit(_ currency: Currency) -> Int64 {
        var value: Int64 = 1_000_000_000
        for _ in 0..<currency.minorDigits { value /= 10 }
        return value
    }

    public var description: String { "\(decimalString) \(currency.code)" }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.nanos < rhs.nanos }

    /// Adds, or nil on overflow (never traps).
    public func adding(_ other: Money) -> Money? {
        let (sum, overflow) = nanos.addingReportingOverflow(other.nanos)
        return overflow ? nil : Money(nanos: sum, currency: currency)
    }
}
