/// The contract between the engine and its Lua scripts, defined once: the slots of the packed
/// numbers argument, each level's limit fields, the limit kinds, the packed record layouts and
/// the reply statuses. ``luaHeader`` turns it into Lua constants that ``QuotaScripts``
/// prepends to every script, so the scripts use names (`N_BUCKET_MS`, `L_TPM`, `S_DAY_HELD_U`)
/// and never a number that Swift chose. Adding a slot is a named change here and a use there.
public enum ScriptContract {
    /// Slots every script's numbers argument starts with.
    public enum Common: String, CaseIterable, Sendable {
        case clockOffset, timezoneOffset, bucketMs, buckets, retentionMs, clientSlice
    }

    /// Reserve's slots after ``Common``; the levels follow `levelCount`.
    public enum Reserve: String, CaseIterable, Sendable {
        case holdMs, estimatedInput, estimatedOutput
        case priceInput, priceCachedInput, priceCacheWrite, priceOutput, priceReasoning
        case levelCount
    }

    /// Settle's slots after ``Common``; the levels follow `levelCount`.
    public enum Settle: String, CaseIterable, Sendable {
        case usageInput, usageCachedInput, usageCacheWrite, usageOutput, usageReasoning
        case latencyMs, cacheHit, pricesGiven
        case priceInput, priceCachedInput, priceCacheWrite, priceOutput, priceReasoning
        case levelCount
    }

    /// One level's limits, in order, after a script's `levelCount` (-1: no limit).
    public enum Level: String, CaseIterable, Sendable {
        case tpm, rpm, dayBudgetUnits, dayBudgetNanos, monthBudgetUnits, monthBudgetNanos, dayTokens, monthTokens
    }

    /// The limits a level can have, as the scripts name them in refusals and over-limit lists.
    public enum LimitKind: String, CaseIterable, Sendable {
        case tpm, rpm
        case budgetDaily = "budget_daily"
        case budgetMonthly = "budget_monthly"
        case tokensDaily = "tokens_daily"
        case tokensMonthly = "tokens_monthly"
    }

    /// A subject's header (a field of the state hash), as `struct` packs it. `window` is K
    /// when the subject keeps a window (its ring lives in group fields), 0 when it keeps none.
    public static let subjectHeader: [(name: String, code: String)] = [
        ("window", "B"), ("newest", "d"), ("windowTokens", "d"), ("windowRequests", "I4"),
        ("day", "I4"), ("daySpentU", "d"), ("daySpentN", "I4"), ("dayHeldU", "d"), ("dayHeldN", "I4"), ("dayTokens", "d"),
        ("month", "I4"), ("monthSpentU", "d"), ("monthSpentN", "I4"), ("monthHeldU", "d"), ("monthHeldN", "I4"), ("monthTokens", "d"),
    ]

    /// A live hold (field `h:<request id>` of the state hash), then the subject fields
    /// comma-separated, `\n` and the attribution columns.
    public static let holdRecord: [(name: String, code: String)] = [
        ("expiry", "d"), ("reservedAt", "d"), ("bucket", "d"), ("day", "I4"), ("month", "I4"),
        ("estimatedTokens", "d"), ("estimatedCost", "d"),
        ("priceInput", "d"), ("priceCachedInput", "d"), ("priceCacheWrite", "d"), ("priceOutput", "d"), ("priceReasoning", "d"),
    ]

    /// A settled request's outcome (a field of an idempotency slice): the state letter, then
    /// for a commit these numbers, the present usage counts (one `I4` per bit of `usageMask`,
    /// in ``Settle``'s usage order), the price version, `\t` and the model when it is not the
    /// version's own.
    public static let outcomeRecord: [(name: String, code: String)] = [
        ("cost", "I7"), ("settledAtSeconds", "I4"), ("overMask", "I3"), ("usageMask", "B"),
    ]

    /// The state letters of an outcome record.
    public enum Outcome: String, CaseIterable, Sendable {
        /// Committed, settling a live hold.
        case committedHold = "C"
        /// Committed or recorded without a live hold.
        case committed = "c"
        case released = "R"
        case expired = "X"
    }

    /// First element of a reserve reply.
    public enum ReserveStatus: Int64, CaseIterable, Sendable { case limited = 0, allowed = 1, duplicate = 2 }
    /// First element of a settle reply.
    public enum SettleStatus: Int64, CaseIterable, Sendable { case noModel = 0, settled = 1, duplicate = 2 }
    /// First element of a release reply.
    public enum ReleaseStatus: Int64, CaseIterable, Sendable { case nothing = 0, returned = 1, before = 2 }

    /// The Lua constants of the contract for script `name`, prepended to it. Each script gets
    /// only the groups it uses: Lua 5.1 allows 200 locals in a chunk.
    public static func luaHeader(for name: String) -> String {
        var lines = ["-- Generated from ScriptContract.swift: names for the contract's slots. Do not edit."]
        lines.append(indices(Common.allCases.map(\.rawValue), prefix: "N_", from: 1))
        if name == "reserve" { lines.append(indices(Reserve.allCases.map(\.rawValue), prefix: "RN_", from: Common.allCases.count + 1)) }
        if name == "settle" {
            lines.append(indices(Settle.allCases.map(\.rawValue), prefix: "SN_", from: Common.allCases.count + 1))
            // The ledger line: these columns, then the attribution columns as one tab-separated run.
            let fixed = LedgerColumn.allCases.filter { $0.rawValue < LedgerColumn.firstAttribution.rawValue }
            lines.append(indices(fixed.map { "\($0)" }, prefix: "LC_", from: 1))
            lines.append("local LEDGER_FIXED_COLUMNS, LEDGER_FORMAT = \(fixed.count), '\(LedgerColumn.formatVersion)'")
        }
        lines.append(indices(Level.allCases.map(\.rawValue), prefix: "L_", from: 1))
        lines.append("local LEVEL_SIZE = \(Level.allCases.count)")
        lines.append(strings(LimitKind.allCases.map { ("\($0)", $0.rawValue) }, prefix: "LIMIT_"))
        lines.append("local LIMIT_KINDS = { " + LimitKind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ") + " }")
        lines.append(indices(subjectHeader.map(\.name), prefix: "S_", from: 1))
        lines.append("local SUBJECT_FORMAT = '<" + subjectHeader.map(\.code).joined() + "'")
        lines.append(indices(holdRecord.map(\.name), prefix: "H_", from: 1))
        lines.append("local HOLD_FORMAT = '<" + holdRecord.map(\.code).joined() + "'")
        lines.append(indices(outcomeRecord.map(\.name), prefix: "O_", from: 1))
        lines.append("local OUTCOME_FORMAT = '<" + outcomeRecord.map(\.code).joined() + "'")
        lines.append(strings(Outcome.allCases.map { ("\($0)", $0.rawValue) }, prefix: "OUTCOME_"))
        lines.append(indices(AttributionColumn.allCases.map { "\($0)" }, prefix: "A_", from: 1))
        lines.append("local ATTRIBUTION_COUNT = \(AttributionColumn.allCases.count)")
        lines.append(numbers(ReserveStatus.allCases.map { ("\($0)", $0.rawValue) }, prefix: "RESERVE_"))
        lines.append(numbers(SettleStatus.allCases.map { ("\($0)", $0.rawValue) }, prefix: "SETTLE_"))
        lines.append(numbers(ReleaseStatus.allCases.map { ("\($0)", $0.rawValue) }, prefix: "RELEASE_"))
        return lines.joined(separator: "\n") + "\n"
    }

    /// `camelCase` → `CAMEL_CASE`.
    static func luaName(_ name: String) -> String {
        var result = ""
        var previous: Character?
        for character in name {
            if character.isUppercase, let previous, !previous.isUppercase { result.append("_") }
            result.append(contentsOf: character.uppercased())
            previous = character
        }
        return result
    }

    private static func indices(_ names: [String], prefix: String, from start: Int) -> String {
        "local " + names.map { prefix + luaName($0) }.joined(separator: ", ") + " = "
            + names.indices.map { String(start + $0) }.joined(separator: ", ")
    }

    private static func strings(_ pairs: [(String, String)], prefix: String) -> String {
        "local " + pairs.map { prefix + luaName($0.0) }.joined(separator: ", ") + " = " + pairs.map { "'\($0.1)'" }.joined(separator: ", ")
    }

    private static func numbers(_ pairs: [(String, Int64)], prefix: String) -> String {
        "local " + pairs.map { prefix + luaName($0.0) }.joined(separator: ", ") + " = " + pairs.map { String($0.1) }.joined(separator: ", ")
    }
}
