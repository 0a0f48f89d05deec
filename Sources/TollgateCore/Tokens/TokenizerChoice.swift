import TollgateTokenizer

/// How the gateway counts a model's prompt: exactly with one of tiktoken's encodings, or,
/// for providers that publish no offline tokenizer (Claude, Gemini), an estimate: the
/// o200k_base count times a factor. Written `o200k_base`, `cl100k_base` or `estimate:1.25`.
public enum TokenizerChoice: Hashable, Sendable, CustomStringConvertible {
    case exact(Encoding)
    /// o200k_base tokens × `perMille` / 1000, rounded up.
    case estimate(perMille: Int)

    /// Factors are 0.5–4.0.
    public static let perMilleRange = 500...4000

    /// Default estimator factors (Docs/tokens.md explains them): conservative, since a
    /// reservation should not be below what the provider bills.
    public static let claude = TokenizerChoice.estimate(perMille: 1250)
    public static let gemini = TokenizerChoice.estimate(perMille: 1100)

    public var description: String {
        switch self {
        case .exact(let encoding): encoding.name
        case .estimate(let perMille): "estimate:\(ExactDecimal.format(Int64(perMille), scale: 3, minimumFractionDigits: 2))"
        }
    }

    /// True when counts equal what the provider bills (an exact encoding).
    public var isExact: Bool {
        if case .exact = self { return true }
        return false
    }

    /// The encoding whose count is used (the estimator counts with o200k_base).
    public var encoding: Encoding {
        switch self {
        case .exact(let encoding): encoding
        case .estimate: .o200kBase
        }
    }

    /// Scales an encoding's count to this choice's estimate.
    public func scale(_ tokens: Int64) -> Int64 {
        switch self {
        case .exact: tokens
        case .estimate(let perMille): (tokens * Int64(perMille) + 999) / 1000
        }
    }

    /// Parses `o200k_base`, `cl100k_base` or `estimate:F` with F a decimal 0.5–4.0.
    public init(parsing text: String) throws(PricingError) {
        if let encoding = Encoding(named: text) {
            self = .exact(encoding)
            return
        }
        guard text.hasPrefix("estimate:") else {
            throw .invalidCatalogue("tokenizer '\(text)' is not o200k_base, cl100k_base or estimate:FACTOR (e.g. estimate:1.25)")
        }
        let factor = String(text.dropFirst("estimate:".count))
        guard let perMille = try? ExactDecimal.parse(factor, scale: 3).value, Self.perMilleRange.contains(Int(perMille)) else {
            throw .invalidCatalogue("tokenizer factor '\(factor)' must be a decimal from 0.5 to 4.0 with at most 3 decimals")
        }
        self = .estimate(perMille: Int(perMille))
    }

    /// The tokenizer a model's name or provider implies: o200k_base for GPT-4o, GPT-4.1,
    /// GPT-5, the o-series and other current OpenAI models; cl100k_base for GPT-4 (before 4o),
    /// GPT-3.5 and the embedding models; an estimate for Claude and Gemini (and anything else).
    public static func inferred(model: String, provider: String? = nil) -> TokenizerChoice {
        let name = model.lowercased().split(separator: "/").last.map(String.init) ?? model.lowercased()
        let provider = provider?.lowercased() ?? ""
        if name.hasPrefix("gpt-4o") || name.hasPrefix("gpt-4.1") || name.hasPrefix("gpt-4.5") || name.hasPrefix("gpt-5")
            || name.hasPrefix("chatgpt-4o") || name.hasPrefix("codex") || name.hasPrefix("gpt-oss") || isOSeries(name) {
            return .exact(.o200kBase)
        }
        if name.hasPrefix("gpt-4") || name.hasPrefix("gpt-3.5") || name.hasPrefix("gpt-35") || name.hasPrefix("text-embedding-") {
            return .exact(.cl100kBase)
        }
        if name.contains("claude") || provider == "anthropic" || provider == "bedrock" { return .claude }
        if name.contains("gemini") || name.contains("gemma") || provider.hasPrefix("gemini") || provider.hasPrefix("vertex") { return .gemini }
        if provider == "openai" || provider == "azure" { return .exact(.o200kBase) }
        return .claude  // unknown: the more generous estimate
    }

    private static func isOSeries(_ name: String) -> Bool {
        guard name.first == "o", let digit = name.dropFirst().first else { return false }
        return digit.isNumber
    }
}

extension TokenizerChoice: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try TokenizerChoice(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
