/// Exact decimal text ↔ scaled integers, without binary floating point.
///
/// `ExactDecimal.parse("0.546875", scale: 9)` is 546_875_000: the value times 10^scale.
/// Exponents (`5.46875e-07`) are accepted, so JSON number literals convert exactly too.
public enum ExactDecimal {
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let text: String
        public let reason: String
        public var description: String { "'\(text)' is not a valid amount: \(reason)" }
    }

    /// How digits beyond `scale` are handled.
    public enum Rounding: Sendable {
        /// More digits than `scale` is an error.
        case exact
        /// Round half to even at `scale`.
        case halfEven
    }

    public struct Result: Sendable, Equatable {
        public var value: Int64
        /// True when non-zero digits beyond the scale were rounded away.
        public var rounded: Bool
    }

    /// Parses `[+-]digits[.digits][e[+-]digits]` into value × 10^scale.
    public static func parse(_ text: String, scale: Int, rounding: Rounding = .exact, allowNegative: Bool = false) throws(ParseError) -> Result {
        func fail(_ reason: String) -> ParseError { ParseError(text: text, reason: reason) }
        let bytes = Array(text.utf8)
        var index = 0
        var negative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        var digits: [UInt8] = []
        var fractionDigits = 0
        var seenPoint = false
        var seenDigit = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits.append(byte - UInt8(ascii: "0"))
                if seenPoint { fractionDigits += 1 }
                seenDigit = true
            } else if byte == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else if byte == UInt8(ascii: "_") || byte == UInt8(ascii: ",") {
                throw fail("use plain digits without separators")
            } else {
                break
            }
            index += 1
        }
        guard seenDigit else { throw fail("no digits") }
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var exponentDigits = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                exponent = exponent * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                exponentDigits += 1
                guard exponent < 1000 else { throw fail("exponent out of range") }
                index += 1
            }
            guard exponentDigits > 0 else { throw fail("missing exponent digits") }
            if exponentNegative { exponent = -exponent }
        }
        guard index == bytes.count else { throw fail("unexpected character") }
        if negative && !allowNegative && digits.contains(where: { $0 != 0 }) { throw fail("must not be negative") }

        // value = digits × 10^(exponent − fractionDigits); we want value × 10^scale.
        let shift = exponent - fractionDigits + scale
        var kept = digits
        var dropped: [UInt8] = []
        if shift >= 0 {
            kept += Array(repeating: 0, count: shift)
        } else {
            let drop = min(-shift, kept.count)
            dropped = Array(kept.suffix(drop))
            kept.removeLast(drop)
            if -shift > digits.count { dropped = Array(repeating: 0, count: -shift - digits.count) + dropped }
        }
        let rounded = dropped.contains { $0 != 0 }
        if rounded && rounding == .exact { throw fail("more than \(scale) decimal places") }

        var magnitude: UInt64 = 0
        for digit in kept {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            guard !overflow1, !overflow2 else { throw fail("too large") }
            magnitude = sum
        }
        if rounded, let first = dropped.first {
            let rest = dropped.dropFirst().contains { $0 != 0 }
            let roundUp = first > 5 || (first == 5 && (rest || magnitude % 2 == 1))
            if roundUp {
                guard magnitude < UInt64(Int64.max) else { throw fail("too large") }
                magnitude += 1
            }
        }
        guard magnitude <= UInt64(Int64.max) else { throw fail("too large") }
        let value = negative ? -Int64(magnitude) : Int64(magnitude)
        return Result(value: value, rounded: rounded)
    }

    /// value / 10^scale as plain decimal text, trailing zeros trimmed down to `minimumFractionDigits`.
    public static func format(_ value: Int64, scale: Int, minimumFractionDigits: Int = 0) -> String {
        let negative = value < 0
        var digits = String(value.magnitude)
        if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
        var whole = String(digits.dropLast(scale))
        var fraction = String(digits.suffix(scale))
        while fraction.count > minimumFractionDigits, fraction.hasSuffix("0") { fraction.removeLast() }
        if whole.isEmpty { whole = "0" }
        let text = fraction.isEmpty ? whole : whole + "." + fraction
        return negative ? "-" + text : text
    }
}
