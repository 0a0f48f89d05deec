/// Limits that apply at one level of the customer hierarchy. Nil means "no limit here".
public struct Limits: Sendable, Hashable, Codable {
    /// Tokens per rolling minute.
    public var tpm: Int64?
    /// Requests per rolling minute.
    public var rpm: Int64?
    /// Spend per calendar day (in the organisation's timezone).
    public var dailyBudget: Money?
    /// Spend per calendar month.
    public var monthlyBudget: Money?
    /// Tokens per calendar day.
    public var dailyTokens: Int64?
    /// Tokens per calendar month.
    public var monthlyTokens: Int64?

    /// Largest TPM/RPM or token budget accepted (10^12): far above any real quota, far below 2^53.
    public static let maximumCount: Int64 = 1_000_000_000_000

    public init(tpm: Int64? = nil, rpm: Int64? = nil, dailyBudget: Money? = nil, monthlyBudget: Money? = nil,
                dailyTokens: Int64? = nil, monthlyTokens: Int64? = nil) {
        self.tpm = tpm
        self.rpm = rpm
        self.dailyBudget = dailyBudget
        self.monthlyBudget = monthlyBudget
        self.dailyTokens = dailyTokens
        self.monthlyTokens = monthlyTokens
    }

    public static let none = Limits()

    public var isEmpty: Bool { self == .none }

    /// These limits with every limit `overrides` sets replacing ours.
    public func applying(_ overrides: Limits) -> Limits {
        Limits(
            tpm: overrides.tpm ?? tpm,
            rpm: overrides.rpm ?? rpm,
            dailyBudget: overrides.dailyBudget ?? dailyBudget,
            monthlyBudget: overrides.monthlyBudget ?? monthlyBudget,
            dailyTokens: overrides.dailyTokens ?? dailyTokens,
            monthlyTokens: overrides.monthlyTokens ?? monthlyTokens)
    }

    /// Problems with these limits, as sentences; empty when valid.
    public func problems(currency: Currency) -> [String] {
        var problems: [String] = []
        for (name, value) in [("tpm", tpm), ("rpm", rpm), ("daily_tokens", dailyTokens), ("monthly_tokens", monthlyTokens)] {
            guard let value else { continue }
            if value < 0 { problems.append("\(name) must not be negative") }
            if value > Self.maximumCount { problems.append("\(name) must be at most \(Self.maximumCount)") }
        }
        for (name, value) in [("daily_budget", dailyBudget), ("monthly_budget", monthlyBudget)] {
            guard let value else { continue }
            if value.nanos < 0 { problems.append("\(name) must not be negative") }
            if value.currency != currency { problems.append("\(name) is in \(value.currency) but the configuration's currency is \(currency)") }
        }
        return problems
    }

    enum CodingKeys: String, CodingKey {
        case tpm, rpm
        case dailyBudget = "daily_budget"
        case monthlyBudget = "monthly_budget"
        case dailyTokens = "daily_tokens"
        case monthlyTokens = "monthly_tokens"
    }
}

/// Caps that a tier puts on each end user (the request's `user`) within an organisation.
public struct UserCaps: Sendable, Hashable, Codable {
    public var tpm: Int64?
    public var dailySpend: Money?

    public init(tpm: Int64? = nil, dailySpend: Money? = nil) {
        self.tpm = tpm
        self.dailySpend = dailySpend
    }

    public var isEmpty: Bool { tpm == nil && dailySpend == nil }

    enum CodingKeys: String, CodingKey {
        case tpm
        case dailySpend = "daily_spend"
    }
}
