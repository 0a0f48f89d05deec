/// Written as per-1M decimal strings: `{input: "2.00", output: "8.00", cached_input: "0.50"}`.
extension TokenPrices: Codable {
    enum CodingKeys: String, CodingKey {
        case input, output
        case cachedInput = "cached_input"
        case cacheWrite = "cache_write"
        case reasoning
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func price(_ key: CodingKeys) throws -> Int64? {
            guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
            do {
                return try TokenPrices.parse(text, key.rawValue.replacingUnderscores)
            } catch {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: error.description)
            }
        }
        guard let input = try price(.input) else {
            throw DecodingError.keyNotFound(CodingKeys.input, .init(codingPath: decoder.codingPath, debugDescription: "an input price is required"))
        }
        guard let output = try price(.output) else {
            throw DecodingError.keyNotFound(CodingKeys.output, .init(codingPath: decoder.codingPath, debugDescription: "an output price is required"))
        }
        self.init(input: input, output: output, cachedInput: try price(.cachedInput), cacheWrite: try price(.cacheWrite), reasoning: try price(.reasoning))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(decimal(input), forKey: .input)
        try container.encode(decimal(output), forKey: .output)
        try container.encodeIfPresent(cachedInput.map(decimal), forKey: .cachedInput)
        try container.encodeIfPresent(cacheWrite.map(decimal), forKey: .cacheWrite)
        try container.encodeIfPresent(reasoning.map(decimal), forKey: .reasoning)
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}
