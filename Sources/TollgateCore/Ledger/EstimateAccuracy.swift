/// How well reservations' token estimates matched what providers billed: for each settled
/// reservation, the relative error (estimated − actual) / actual of its total tokens
/// (the input estimate plus the output reserved, against input plus output used).
///
/// Statistics only (never accounting): the errors are `Double`.
public struct EstimateAccuracy: Sendable, Hashable {
    public private(set) var errors: [Double] = []

    public init() {}

    /// Adds a ledger entry if it settled a reservation (commits with an estimate and usage).
    public mutating func add(_ entry: LedgerEntry) {
        guard entry.kind == .commit, entry.reservedAt > 0, entry.estimatedTokens > 0, entry.usage.total > 0 else { return }
        errors.append(Double(entry.estimatedTokens - entry.usage.total) / Double(entry.usage.total))
    }

    public var count: Int { errors.count }
    /// The mean signed relative error (positive: estimates were high).
    public var mean: Double { errors.isEmpty ? 0 : errors.reduce(0, +) / Double(errors.count) }
    /// Share of reservations whose estimate was below what was used.
    public var underEstimateShare: Double { errors.isEmpty ? 0 : Double(errors.filter { $0 < 0 }.count) / Double(errors.count) }

    /// The `quantile` (0–1) of the absolute relative error, nearest rank.
    public func absoluteQuantile(_ quantile: Double) -> Double {
        guard !errors.isEmpty else { return 0 }
        let sorted = errors.map(abs).sorted()
        let rank = Int((quantile * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }
}
