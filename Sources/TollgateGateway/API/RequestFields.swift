import TollgateCore

/// Typed, validated access to a JSON request body. Every problem is a 422 naming the field.
struct RequestFields {
    let object: [String: JSONValue]

    init(_ value: JSONValue) throws(APIError) {
        guard let object = value.objectValue else { throw .invalid("body", "the body must be a JSON object") }
        self.object = object
    }

    static let maximumIdentifierLength = 128
    static let maximumAttributionLength = 128

    /// A request id: 1–128 visible ASCII characters.
    func requestID(_ name: String = "request_id") throws(APIError) -> String {
        let id = try string(name, required: true)!
        guard id.utf8.count <= Self.maximumIdentifierLength, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalid(name, "\(name) must be 1-\(Self.maximumIdentifierLength) visible ASCII characters")
        }
        return id
    }

    func apiKey() throws(APIError) -> String {
        let key = try string("api_key", required: true)!
        guard Identifier.isValid(key) else { throw .invalid("api_key", "api_key must be 1-64 letters, digits, '.', '_' or '-'") }
        return key
    }

    func string(_ name: String, required: Bool = false) throws(APIError) -> String? {
        guard let value = object[name], !value.isNull else {
            if required { throw .invalid(name, "\(name) is required") }
            return nil
        }
        guard let text = value.stringValue else { throw .invalid(name, "\(name) must be a string") }
        if required && text.isEmpty { throw .invalid(name, "\(name) must not be empty") }
        return text
    }

    /// user, feature, session, experiment: optional, at most 128 characters, no control characters.
    func attribution(_ name: String) throws(APIError) -> String? {
        try Self.attribution(name, try string(name))
    }

    /// An attribution value from the body or the query: at most 128 characters (Unicode
    /// scalars, as JSON Schema counts them), no control characters; empty means none.
    static func attribution(_ name: String, _ text: String?) throws(APIError) -> String? {
        guard let text else { return nil }
        guard text.unicodeScalars.count <= maximumAttributionLength else { throw .invalid(name, "\(name) must be at most \(maximumAttributionLength) characters") }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .invalid(name, "\(name) must not contain control characters")
        }
        return text.isEmpty ? nil : text
    }

    /// A whole, non-negative count no larger than `maximum`.
    func count(_ name: String, required: Bool = false, maximum: Int64 = TokenUsage.maximumPerClass) throws(APIError) -> Int64? {
        guard let value = object[name], !value.isNull else {
            if required { throw .invalid(name, "\(name) is required") }
            return nil
        }
        guard case .number = value, let integer = value.integerValue else { throw .invalid(name, "\(name) must be a whole number") }
        guard integer >= 0 else { throw .invalid(name, "\(name) must not be negative") }
        guard integer <= maximum else { throw .invalid(name, "\(name) must be at most \(maximum)") }
        return integer
    }

    func bool(_ name: String) throws(APIError) -> Bool? {
        guard let value = object[name], !value.isNull else { return nil }
        guard let flag = value.boolValue else { throw .invalid(name, "\(name) must be true or false") }
        return flag
    }

    func model() throws(APIError) -> String? {
        guard let model = try string("model") else { return nil }
        guard !model.isEmpty, model.utf8.count <= 128, model.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalid("model", "model must be 1-128 visible ASCII characters")
        }
        return model
    }
}
