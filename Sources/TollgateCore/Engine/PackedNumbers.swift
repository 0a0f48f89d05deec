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

    /// Level count, then per level: tpm, rpm, daily budget (units, nanos), monthly budget
    /// (units, nanos), daily tokens, monthly tokens — -1 for "no limit".
    mutating func appendLevels(_ levels: [LevelPlan]) {
        append(Int64(levels.count))
        for level in levels {
            let limits = level.limits
            append(limits.tpm ?? -1, limits.rpm ?? -1)
            for budget in [limits.dailyBudget, limits.monthlyBudget] {
                if let budget, budget.nanos >= 0 {
                    append(budget.nanos / Money.nanosPerUnit, budget.nanos % Money.nanosPerUnit)
                } else {
                    append(-1, -1)
                }
            }
            append(limits.dailyTokens ?? -1, limits.monthlyTokens ?? -1)
        }
    }
}
