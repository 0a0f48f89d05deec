import Foundation

/// The formats of the admin API's text fields, as the regular expressions that
/// Docs/admin-openapi.yaml gives as `pattern` (AdminOpenAPITests checks they agree), so a value
/// the document allows is accepted and one it forbids is refused.
enum AdminFormat {
    /// Money in the deployment's currency: up to 9 digits before the point, 9 after.
    static let money = #"^[0-9]{1,9}(\.[0-9]{1,9})?$"#
    /// A price per 1M tokens: below 10,000.
    static let price = #"^[0-9]{1,4}(\.[0-9]{1,9})?$"#
    /// How a model's prompts are counted.
    static let tokenizer = #"^(o200k_base|cl100k_base|estimate:(0\.[5-9][0-9]{0,2}|[1-3](\.[0-9]{1,3})?|4(\.0{1,3})?))$"#
    /// A UTC date, or a UTC time with up to millisecond precision.
    static let time = #"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,3})?Z)?$"#
    /// A calendar date (the days of a report).
    static let date = #"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"#
    /// A model name: 1-128 visible ASCII characters.
    static let model = #"^[!-~]{1,128}$"#
    /// An id of an organisation, workspace, key, tier, token or provider.
    static let identifier = #"^[A-Za-z0-9._-]{1,64}$"#
    /// An `Idempotency-Key`: printable ASCII; spaces or tabs around it are not part of it
    /// (HTTP drops them before the server sees the value).
    static let idempotencyKey = #"^[ \t]*[!-~]([ -~]{0,253}[!-~])?[ \t]*$"#

    /// The format of each path parameter; a value without it names nothing (404).
    static let pathParameters: [String: String] = ["name": identifier, "id": identifier, "model": model]

    static func matches(_ text: String, _ pattern: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return false }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// IANA timezone names a tier may use (the document lists them as an enum).
    static let timezones: Set<String> = Set(TimeZone.knownTimeZoneIdentifiers).union(["UTC"])
}
