import Foundation

extension CodingUserInfoKey {
    /// The configuration's currency, for decoding amounts written as plain decimals.
    public static let tollgateCurrency = CodingUserInfoKey(rawValue: "tollgate.currency")!
}

/// Money is written as decimal text in major units ("12.50"); the currency is the
/// configuration's (see ``CodingUserInfoKey/tollgateCurrency``) unless the text names one
/// ("12.50 NGN").
extension Money: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        let parts = text.split(separator: " ")
        var currency = decoder.userInfo[.tollgateCurrency] as? Currency ?? .usd
        if parts.count == 2 {
            guard let named = Currency(code: String(parts[1])) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown currency '\(parts[1])'"))
            }
            currency = named
        }
        guard let amount = parts.first, parts.count <= 2 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an amount"))
        }
        do {
            self = try Money(decimal: String(amount), currency: currency)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(decimalString)
    }
}
