/// One field of a partial change: leave it, set it, or remove it (back to "none").
public enum FieldEdit<Value: Sendable & Hashable>: Sendable, Hashable {
    case keep
    case set(Value)
    case remove

    /// `current` after this edit.
    public func applied(to current: Value?) -> Value? {
        switch self {
        case .keep: current
        case .set(let value): value
        case .remove: nil
        }
    }

    public var isKeep: Bool { self == .keep }
}

/// A partial change of ``Limits``: each limit kept, set or removed.
public struct LimitsChange: Sendable, Hashable {
    public var tpm: FieldEdit<Int64> = .keep
    public var rpm: FieldEdit<Int64> = .keep
    public var dailyBudget: FieldEdit<Money> = .keep
    public var monthlyBudget: FieldEdit<Money> = .keep
    public var dailyTokens: FieldEdit<Int64> = .keep
    public var monthlyTokens: FieldEdit<Int64> = .keep

    public init() {}

    public func applied(to limits: Limits) -> Limits {
        Limits(tpm: tpm.applied(to: limits.tpm), rpm: rpm.applied(to: limits.rpm),
               dailyBudget: dailyBudget.applied(to: limits.dailyBudget), monthlyBudget: monthlyBudget.applied(to: limits.monthlyBudget),
               dailyTokens: dailyTokens.applied(to: limits.dailyTokens), monthlyTokens: monthlyTokens.applied(to: limits.monthlyTokens))
    }
}
