/// Numbers for a script, packed as little-endian doubles (Lua's `struct.unpack('<d…')`).
/// Every value is an integer whose magnitude is below 2^53, so the doubles are exact.
struct PackedNumbers {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(256) }

    mutating func append(_ values: Int64...) { append(values) }

    mutating func append(_ values: [Int64]) {
        for value in values {
            precondition(value.magnitude < 1 << 53, "script numbers must stay below 2^53")
            withUnsafeBytes(of: Double(value).bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
    }

    /// One number per slot of a contract group, in the group's order.
    mutating func append<Slot: CaseIterable>(_ group: Slot.Type, _ value: (Slot) -> Int64) {
        for slot in group.allCases { append(value(slot)) }
    }

    /// Per level, its limits in ``ScriptContract/Level`` order: -1 for "no limit", money as
    /// (units, nanos).
    mutating func appendLevels(_ levels: [LevelPlan]) {
        for level in levels {
            let limits = level.limits
            func money(_ budget: Money?, units: Bool) -> Int64 {
                guard let budget, budget.nanos >= 0 else { return -1 }
                return units ? budget.nanos / Money.nanosPerUnit : budget.nanos % Money.nanosPerUnit
            }
            append(ScriptContract.Level.self) { slot in
                switch slot {
                case .tpm: limits.tpm ?? -1
                case .rpm: limits.rpm ?? -1
                case .dayBudgetUnits: money(limits.dailyBudget, units: true)
                case .dayBudgetNanos: money(limits.dailyBudget, units: false)
                case .monthBudgetUnits: money(limits.monthlyBudget, units: true)
                case .monthBudgetNanos: money(limits.monthlyBudget, units: false)
                case .dayTokens: limits.dailyTokens ?? -1
                case .monthTokens: limits.monthlyTokens ?? -1
                }
            }
        }
    }
}
