import HTTPTypes
import TollgateCore
import TollgateGateway

/// Typed, strict access to a JSON object body: a field the route does not know, a wrong
/// type or a value out of range is a 422 naming the field, before anything changes.
struct AdminBody: Sendable {
    let object: [String: JSONValue]
    /// Where these fields sit in the request (`limits.` for a nested object).
    let path: String

    init(_ object: [String: JSONValue] = [:], path: String = "") {
        self.object = object
        self.path = path
    }

    static let maximumNameLength = 128

    /// Refuses any field but `known`.
    func allowOnly(_ known: Set<String>) throws(APIError) {
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalid(path + unknown, "unknown field '\(path)\(unknown.prefix(64))'")
        }
    }

    func has(_ name: String) -> Bool { object[name] != nil }

    /// Whether the field is given as `null` (remove).
    func isNull(_ name: String) -> Bool { object[name] == .null }

    func string(_ name: String, required: Bool = false, maximumLength: Int = maximumNameLength) throws(APIError) -> String? {
        guard let value = object[name] else {
            if required { throw .invalid(path + name, "\(path)\(name) is required") }
            return nil
        }
        guard let text = value.stringValue else { throw .invalid(path + name, "\(path)\(name) must be a string") }
        guard !text.isEmpty, text.unicodeScalars.count <= maximumLength else {
            throw .invalid(path + name, "\(path)\(name) must be 1-\(maximumLength) characters")
        }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .invalid(path + name, "\(path)\(name) must not contain control characters")
        }
        return text
    }

    /// An id: 1-64 letters, digits, '.', '_' or '-'.
    func identifier(_ name: String, required: Bool = false) throws(APIError) -> String? {
        guard let text = try string(name, required: required, maximumLength: Identifier.maximumLength) else { return nil }
        guard Identifier.isValid(text) else { throw .invalid(path + name, "\(path)\(name) must be 1-64 letters, digits, '.', '_' or '-'") }
        return text
    }

    /// A whole number within `range`.
    func integer(_ name: String, in range: ClosedRange<Int64>) throws(APIError) -> Int64? {
        guard let value = object[name] else { return nil }
        guard case .number = value, let integer = value.integerValue else { throw .invalid(path + name, "\(path)\(name) must be a whole number") }
        guard range.contains(integer) else { throw .invalid(path + name, "\(path)\(name) must be between \(range.lowerBound) and \(range.upperBound)") }
        return integer
    }

    /// An amount of money as a decimal string in the deployment's currency ("25.00").
    func money(_ name: String, currency: Currency) throws(APIError) -> Money? {
        guard let text = try formatted(name, AdminFormat.money, "a decimal string such as \"25.00\" (up to 9 digits before the point and 9 after)") else { return nil }
        do {
            return try Money(decimal: text, currency: currency)
        } catch {
            throw .invalid(path + name, "\(path)\(name) \(error)")
        }
    }

    /// A string in one of ``AdminFormat``'s formats.
    func formatted(_ name: String, _ pattern: String, _ what: String) throws(APIError) -> String? {
        guard let value = object[name] else { return nil }
        guard let text = value.stringValue, AdminFormat.matches(text, pattern) else { throw .invalid(path + name, "\(path)\(name) must be \(what)") }
        return text
    }

    /// A count limit: absent keeps it, `null` removes it.
    func countEdit(_ name: String) throws(APIError) -> FieldEdit<Int64> {
        guard has(name) else { return .keep }
        if isNull(name) { return .remove }
        return .set(try integer(name, in: 0...Limits.maximumCount)!)
    }

    /// A money limit: absent keeps it, `null` removes it.
    func moneyEdit(_ name: String, currency: Currency) throws(APIError) -> FieldEdit<Money> {
        guard has(name) else { return .keep }
        if isNull(name) { return .remove }
        return .set(try money(name, currency: currency)!)
    }

    /// A nested object, or nil when absent (`null` is refused unless `nullable`).
    func object(_ name: String, nullable: Bool = false) throws(APIError) -> AdminBody? {
        guard let value = object[name] else { return nil }
        if value == .null && nullable { return nil }
        guard let members = value.objectValue else { throw .invalid(path + name, "\(path)\(name) must be an object") }
        return AdminBody(members, path: path + name + ".")
    }

    /// A list of short strings (at most `maximumCount`).
    func strings(_ name: String, maximumCount: Int = 1_000, maximumLength: Int = maximumNameLength) throws(APIError) -> [String]? {
        guard let value = object[name] else { return nil }
        guard case .array(let items) = value, items.count <= maximumCount else {
            throw .invalid(path + name, "\(path)\(name) must be a list of at most \(maximumCount) strings")
        }
        var result: [String] = []
        for item in items {
            guard let text = item.stringValue, !text.isEmpty, text.unicodeScalars.count <= maximumLength,
                  !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw .invalid(path + name, "\(path)\(name) must hold strings of 1-\(maximumLength) characters")
            }
            result.append(text)
        }
        return result
    }

    /// A time: a UTC date or time (`2026-12-01`, `2026-12-01T09:00:00Z`); absent means `now`.
    func time(_ name: String, now: Int64) throws(APIError) -> Int64 {
        guard let text = try formatted(name, AdminFormat.time, "a UTC date or time such as 2026-12-01 or 2026-12-01T09:00:00Z") else { return now }
        guard let millis = Timestamp.parse(text) else {
            throw .invalid(path + name, "\(path)\(name) must be a date or ISO 8601 time (e.g. 2026-12-01T09:00:00Z)")
        }
        return millis
    }

    /// The audit reason, optional, at most 500 characters.
    func reason() throws(APIError) -> String { try string("reason", maximumLength: 500) ?? "" }
}
