/// A reservation held against a request's limits until it is committed, released or expires.
public struct Hold: Sendable, Hashable {
    public var requestID: String
    /// When it was admitted (ms since 1970, Redis time).
    public var reservedAt: Int64
    /// When the monitor will expire and refund it (ms since 1970, Redis time).
    public var expiresAt: Int64
    public var estimatedTokens: Int64
    public var estimatedCost: Money
    public var priceVersion: String
}

/// The rate-limit state of the most constraining level, for response headers. Nil fields:
/// no level has that limit.
public struct RateLimitStatus: Sendable, Hashable {
    public var tokensLimit: Int64?
    public var tokensRemaining: Int64?
    /// Until the token window is back to full.
    public var tokensReset: Duration
    public var requestsLimit: Int64?
    public var requestsRemaining: Int64?
    public var requestsReset: Duration

    public static let unlimited = RateLimitStatus(tokensLimit: nil, tokensRemaining: nil, tokensReset: .zero, requestsLimit: nil, requestsRemaining: nil, requestsReset: .zero)
}

/// Why a reservation was refused, in the API's terms.
public enum LimitReason: String, Sendable, Hashable, Codable {
    case tpm, rpm
    case budgetDaily = "budget_daily"
    case budgetMonthly = "budget_monthly"
    case userCap = "user_cap"
    case tooLarge = "too_large"
}

public struct LimitRefusal: Sendable, Hashable {
    public var reason: LimitReason
    /// The exact limit: `tpm`, `rpm`, `budget_daily`, `budget_monthly`, `tokens_daily`, `tokens_monthly`.
    public var limit: String
    public var scope: Scope
    /// When enough frees up; nil when the request can never fit (too large).
    public var retryAfter: Duration?
}

/// The answer to `reserve`.
public enum ReserveDecision: Sendable, Hashable {
    case allowed(Hold, RateLimitStatus)
    case limited(LimitRefusal, RateLimitStatus)
    /// The request id already has a live hold: nothing changed, here it is.
    case alreadyHeld(Hold)
    /// The request id was already used and settled ('committed', 'released', 'expired').
    case alreadyUsed(state: String)
}

/// The answer to `commit` and `record`.
public struct Settlement: Sendable, Hashable {
    /// False when the request id had already been settled: nothing was charged this time.
    public var isNew: Bool
    public var usage: TokenUsage
    public var cost: Money
    public var priceVersion: String
    public var model: String
    /// Whether a live hold was settled (false: counted without a reservation).
    public var settledHold: Bool
    /// Limits the subjects are over after this usage, as `scope:limit` (`o:budget_daily`).
    public var overLimits: [String]
    public var settledAt: Int64
    /// The settled hold's estimated tokens (input estimate + output reserve), for a new
    /// settlement of a live hold; nil otherwise.
    public var estimatedTokens: Int64? = nil
}

/// The answer to `release` (and the monitor's expiry).
public enum ReleaseOutcome: Sendable, Hashable {
    case released(tokens: Int64, cost: Money)
    case expired(tokens: Int64, cost: Money)
    case alreadyReleased
    case alreadyExpired
    case alreadyCommitted
    case unknown
    /// Expiry asked for a hold whose time is not up.
    case notDue
}

/// One level's live counters, for `GET /v1/quota` and `tollgate status`.
public struct LevelUsage: Sendable, Hashable {
    public var level: LevelPlan
    public var windowTracked: Bool
    public var windowTokens: Int64
    public var windowRequests: Int64
    public var windowReset: Duration
    public var daySpent: Money
    public var dayHeld: Money
    public var dayTokens: Int64
    public var monthSpent: Money
    public var monthHeld: Money
    public var monthTokens: Int64
}

public struct QuotaSnapshot: Sendable, Hashable {
    public var now: Int64
    public var levels: [LevelUsage]
    /// Start of the next day and month in the organisation's timezone (ms since 1970).
    public var dayResetsAt: Int64
    public var monthResetsAt: Int64
}
