import Foundation

/// One dated price of a model. A new version takes effect at `effectiveFrom`; a retired
/// version means the model has no price from then on.
public struct PriceVersion: Sendable, Hashable, Codable {
    public var version: Int
    /// Milliseconds since 1970 (UTC) from which this version applies.
    public var effectiveFrom: Int64
    public var prices: TokenPrices
    public var retired: Bool

    public init(version: Int, effectiveFrom: Int64, prices: TokenPrices, retired: Bool = false) {
        self.version = version
        self.effectiveFrom = effectiveFrom
        self.prices = prices
        self.retired = retired
    }

    enum CodingKeys: String, CodingKey {
        case version
        case effectiveFrom = "effective_from"
        case prices
        case retired
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(Int.self, forKey: .version)
        let text = try container.decode(String.self, forKey: .effectiveFrom)
        guard let millis = Timestamp.parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: .effectiveFrom, in: container, debugDescription: "'\(text)' is not an ISO 8601 time (e.g. 2025-04-14T00:00:00Z)")
        }
        effectiveFrom = millis
        prices = try container.decode(TokenPrices.self, forKey: .prices)
        retired = try container.decodeIfPresent(Bool.self, forKey: .retired) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(Timestamp.format(effectiveFrom), forKey: .effectiveFrom)
        try container.encode(prices, forKey: .prices)
        if retired { try container.encode(true, forKey: .retired) }
    }
}

/// A model's prices over time, and the other names it is called by.
public struct ModelPricing: Sendable, Hashable, Codable {
    public var model: String
    public var provider: String
    public var aliases: [String]
    /// Oldest first.
    public var versions: [PriceVersion]
    /// How the gateway counts this model's prompts (Docs/tokens.md).
    public var tokenizer: TokenizerChoice

    /// Without a `tokenizer`, the one the model's name implies (``TokenizerChoice/inferred(model:provider:)``).
    public init(model: String, provider: String, aliases: [String] = [], versions: [PriceVersion], tokenizer: TokenizerChoice? = nil) {
        self.model = model
        self.provider = provider
        self.aliases = aliases
        self.tokenizer = tokenizer ?? .inferred(model: model, provider: provider)
        self.versions = versions.sorted { ($0.effectiveFrom, $0.version) < ($1.effectiveFrom, $1.version) }
    }

    /// The version in force at `time` (ms since 1970), if any.
    public func version(at time: Int64) -> PriceVersion? {
        versions.last { $0.effectiveFrom <= time }
    }

    public var latest: PriceVersion? { versions.last }

    enum CodingKeys: String, CodingKey { case model, provider, aliases, versions, tokenizer }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            model: try container.decode(String.self, forKey: .model),
            provider: try container.decode(String.self, forKey: .provider),
            aliases: try container.decodeIfPresent([String].self, forKey: .aliases) ?? [],
            versions: try container.decode([PriceVersion].self, forKey: .versions),
            tokenizer: try container.decodeIfPresent(TokenizerChoice.self, forKey: .tokenizer))
    }
}

/// The price a request is charged at: which model entry, which version.
public struct ResolvedPrice: Sendable, Hashable {
    public var model: String
    public var provider: String
    public var prices: TokenPrices
    /// Recorded in the ledger: `gpt-4.1@3`, or `fallback@tier` for a tier's fallback price.
    public var versionID: String

    public init(model: String, provider: String, prices: TokenPrices, versionID: String) {
        self.model = model
        self.provider = provider
        self.prices = prices
        self.versionID = versionID
    }
}

/// Every model's prices, looked up by name or alias at a point in time.
public struct PriceCatalogue: Sendable, Hashable {
    public private(set) var models: [String: ModelPricing]
    private var aliasIndex: [String: String]

    public init(_ models: [ModelPricing] = []) {
        self.models = [:]
        self.aliasIndex = [:]
        for model in models { self.models[model.model.lowercased()] = model }
        rebuildAliases()
    }

    private mutating func rebuildAliases() {
        aliasIndex = [:]
        for (name, model) in models {
            for alias in model.aliases { aliasIndex[alias.lowercased()] = name }
        }
    }

    /// The canonical entry for `name` (a model name or alias, case-insensitive).
    public func entry(named name: String) -> ModelPricing? {
        let key = name.lowercased()
        if let model = models[key] { return model }
        return aliasIndex[key].flatMap { models[$0] }
    }

    /// The price of `model` in force at `time`; nil if the model is unknown or retired then.
    public func resolve(_ model: String, at time: Int64) -> ResolvedPrice? {
        guard let entry = entry(named: model), let version = entry.version(at: time), !version.retired else { return nil }
        return ResolvedPrice(model: entry.model, provider: entry.provider, prices: version.prices, versionID: "\(entry.model)@\(version.version)")
    }

    /// How `model`'s prompts are counted: its entry's tokenizer, or the one its name implies.
    public func tokenizer(for model: String) -> TokenizerChoice {
        entry(named: model)?.tokenizer ?? .inferred(model: model)
    }

    /// Adds or replaces a model's whole entry.
    public mutating func upsert(_ model: ModelPricing) {
        models[model.model.lowercased()] = model
        rebuildAliases()
    }

    public mutating func remove(_ model: String) {
        models[model.lowercased()] = nil
        rebuildAliases()
    }

    /// Models sorted by name.
    public var sorted: [ModelPricing] { models.values.sorted { $0.model < $1.model } }

    /// Problems with the catalogue, as sentences: an alias naming two models, a name that
    /// is both a model and an alias, duplicate versions.
    public var problems: [String] {
        var problems: [String] = []
        var owners: [String: String] = [:]
        for model in sorted {
            for alias in model.aliases {
                let key = alias.lowercased()
                if models[key] != nil { problems.append("alias '\(alias)' of \(model.model) is also a model's name") }
                if let other = owners[key], other != model.model { problems.append("alias '\(alias)' names both \(other) and \(model.model)") }
                owners[key] = model.model
            }
            let numbers = model.versions.map(\.version)
            if Set(numbers).count != numbers.count { problems.append("\(model.model) has two versions with the same number") }
            if model.versions.isEmpty { problems.append("\(model.model) has no price version") }
        }
        return problems
    }
}

extension PriceCatalogue: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(try [ModelPricing](from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try sorted.encode(to: encoder)
    }
}

/// ISO 8601 times ↔ milliseconds since 1970.
public enum Timestamp {
    public static func parse(_ text: String) -> Int64? {
        if let date = try? Date(text, strategy: .iso8601) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return Int64((date.timeIntervalSince1970 * 1000).rounded())
        }
        // A plain date means midnight UTC.
        if let date = try? Date(text + "T00:00:00Z", strategy: .iso8601) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        return nil
    }

    /// `2026-11-23T22:39:01.123Z`: UTC with milliseconds.
    public static func format(_ millis: Int64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
