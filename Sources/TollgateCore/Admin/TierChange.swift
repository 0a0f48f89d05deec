/// A partial change of a tier: the fields given change, the others stay. The CLI's
/// `tier set` and the admin API's tier routes both build one.
public struct TierChange: Sendable, Hashable {
    public var limits = LimitsChange()
    public var userTPM: FieldEdit<Int64> = .keep
    public var userDailySpend: FieldEdit<Money> = .keep
    /// `.remove` allows every priced model.
    public var allowedModels: FieldEdit<[String]> = .keep
    public var defaultOutputTokens: Int64?
    public var holdSeconds: Int?
    public var alertThresholds: [Int]?
    public var tpmSaturationMinutes: Int?
    /// `.remove` turns the cache-hit alert off.
    public var cacheHitAlertPercent: FieldEdit<Int> = .keep
    public var cacheHitAlertMinimumRequests: Int?
    public var failureMode: FailureMode?
    public var timezone: String?
    /// `.remove` refuses models missing from the pricing table.
    public var fallbackPrice: FieldEdit<TokenPrices> = .keep

    public init() {}

    public func applied(to old: Tier) -> Tier {
        var tier = old
        tier.limits = limits.applied(to: tier.limits)
        if !userTPM.isKeep || !userDailySpend.isKeep {
            var caps = tier.userCaps ?? UserCaps()
            caps.tpm = userTPM.applied(to: caps.tpm)
            caps.dailySpend = userDailySpend.applied(to: caps.dailySpend)
            tier.userCaps = caps.isEmpty ? nil : caps
        }
        tier.allowedModels = allowedModels.applied(to: tier.allowedModels)
        if let defaultOutputTokens { tier.defaultOutputTokens = defaultOutputTokens }
        if let holdSeconds { tier.holdSeconds = holdSeconds }
        if let alertThresholds { tier.alertThresholds = alertThresholds.sorted() }
        if let tpmSaturationMinutes { tier.tpmSaturationMinutes = tpmSaturationMinutes }
        tier.cacheHitAlertPercent = cacheHitAlertPercent.applied(to: tier.cacheHitAlertPercent)
        if let cacheHitAlertMinimumRequests { tier.cacheHitAlertMinimumRequests = cacheHitAlertMinimumRequests }
        if let failureMode { tier.failureMode = failureMode }
        if let timezone { tier.timezone = timezone }
        tier.fallbackPrice = fallbackPrice.applied(to: tier.fallbackPrice)
        return tier
    }
}

/// A new price version of a model (or its first, with its provider), and the model's other
/// attributes. The CLI's `price set` and the admin API's price routes both build one.
public struct PriceChange: Sendable, Hashable {
    public var model: String
    /// Required for a new model.
    public var provider: String?
    /// Nil changes only the tokenizer or the aliases.
    public var prices: TokenPrices?
    public var tokenizer: TokenizerChoice?
    /// Added to the model's aliases.
    public var aliases: [String]
    public var effectiveFrom: Int64

    public init(model: String, provider: String? = nil, prices: TokenPrices? = nil, tokenizer: TokenizerChoice? = nil,
                aliases: [String] = [], effectiveFrom: Int64) {
        self.model = model
        self.provider = provider
        self.prices = prices
        self.tokenizer = tokenizer
        self.aliases = aliases
        self.effectiveFrom = effectiveFrom
    }

    /// Model names: 1-128 visible ASCII characters.
    public static func isModelName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}
