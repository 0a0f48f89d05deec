/// What happens to requests when Redis cannot be reached.
public enum FailureMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Allow the request, mark the answer `degraded`, log and count it.
    case open
    /// Refuse with 503 and a clear error.
    case closed
}

/// A named bundle of limits and behaviour, assigned to organisations and workspaces.
public struct Tier: Sendable, Hashable, Codable {
    public var name: String
    public var limits: Limits
    public var userCaps: UserCaps?
    /// Models (names or `prefix*` patterns) this tier may use; nil allows every priced model.
    public var allowedModels: [String]?
    /// Output tokens assumed when a reservation gives no `max_output_tokens`.
    public var defaultOutputTokens: Int64
    /// How long a reservation is held before the monitor expires and refunds it.
    public var holdSeconds: Int
    /// Percentages of a budget at which alerts fire, e.g. 50, 80, 90, 100.
    public var alertThresholds: [Int]
    /// Minutes of TPM saturation (≥ 95% of the limit) before a saturation alert fires.
    public var tpmSaturationMinutes: Int
    public var failureMode: FailureMode
    /// IANA timezone of budget periods ("UTC", "Europe/Berlin", "Africa/Lagos").
    public var timezone: String
    /// The price of models missing from the pricing table; nil refuses them.
    public var fallbackPrice: TokenPrices?
    /// Alert when an organisation's cache-hit rate today (of the requests that said whether
    /// their prompt hit the provider's cache) is below this percentage; nil: never (default).
    public var cacheHitAlertPercent: Int?
    /// Requests that said, today, before the cache-hit rate alert may fire.
    public var cacheHitAlertMinimumRequests: Int

    public init(name: String, limits: Limits = .none, userCaps: UserCaps? = nil, allowedModels: [String]? = nil,
                defaultOutputTokens: Int64 = 1_024, holdSeconds: Int = 600, alertThresholds: [Int] = [50, 80, 90, 100],
                tpmSaturationMinutes: Int = 5, failureMode: FailureMode = .closed, timezone: String = "UTC",
                fallbackPrice: TokenPrices? = nil, cacheHitAlertPercent: Int? = nil, cacheHitAlertMinimumRequests: Int = 100) {
        self.name = name
        self.limits = limits
        self.userCaps = userCaps
        self.allowedModels = allowedModels
        self.defaultOutputTokens = defaultOutputTokens
        self.holdSeconds = holdSeconds
        self.alertThresholds = alertThresholds
        self.tpmSaturationMinutes = tpmSaturationMinutes
        self.failureMode = failureMode
        self.timezone = timezone
        self.fallbackPrice = fallbackPrice
        self.cacheHitAlertPercent = cacheHitAlertPercent
        self.cacheHitAlertMinimumRequests = cacheHitAlertMinimumRequests
    }

    enum CodingKeys: String, CodingKey {
        case name, limits
        case userCaps = "user_caps"
        case allowedModels = "allowed_models"
        case defaultOutputTokens = "default_output_tokens"
        case holdSeconds = "hold_seconds"
        case alertThresholds = "alert_thresholds"
        case tpmSaturationMinutes = "tpm_saturation_minutes"
        case failureMode = "failure_mode"
        case timezone
        case fallbackPrice = "fallback_price"
        case cacheHitAlertPercent = "cache_hit_alert_percent"
        case cacheHitAlertMinimumRequests = "cache_hit_alert_minimum_requests"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try container.decode(String.self, forKey: .name),
            limits: try container.decodeIfPresent(Limits.self, forKey: .limits) ?? .none,
            userCaps: try container.decodeIfPresent(UserCaps.self, forKey: .userCaps),
            allowedModels: try container.decodeIfPresent([String].self, forKey: .allowedModels),
            defaultOutputTokens: try container.decodeIfPresent(Int64.self, forKey: .defaultOutputTokens) ?? 1_024,
            holdSeconds: try container.decodeIfPresent(Int.self, forKey: .holdSeconds) ?? 600,
            alertThresholds: try container.decodeIfPresent([Int].self, forKey: .alertThresholds) ?? [50, 80, 90, 100],
            tpmSaturationMinutes: try container.decodeIfPresent(Int.self, forKey: .tpmSaturationMinutes) ?? 5,
            failureMode: try container.decodeIfPresent(FailureMode.self, forKey: .failureMode) ?? .closed,
            timezone: try container.decodeIfPresent(String.self, forKey: .timezone) ?? "UTC",
            fallbackPrice: try container.decodeIfPresent(TokenPrices.self, forKey: .fallbackPrice),
            cacheHitAlertPercent: try container.decodeIfPresent(Int.self, forKey: .cacheHitAlertPercent),
            cacheHitAlertMinimumRequests: try container.decodeIfPresent(Int.self, forKey: .cacheHitAlertMinimumRequests) ?? 100)
    }
}

/// Whether `model` matches one of `patterns`: exact names, or `prefix*`.
public func modelMatches(_ model: String, _ patterns: [String]) -> Bool {
    patterns.contains { pattern in
        pattern.hasSuffix("*") ? model.hasPrefix(pattern.dropLast()) : model == pattern
    }
}
