/// The contract between the engine and its Lua scripts, defined once: the slots of the packed
/// numbers argument, each level's limit fields, the limit kinds, the packed record layouts and
/// the reply statuses. ``constants`` turns it into Lua names that ``QuotaScripts`` expands when
/// it builds the library, so the scripts use names (`N_BUCKET_MS`, `L_TPM`, `S_DAY_HELD_U`)
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

    /// Slots after everything else in every script's numbers (after the levels, where a script
    /// has them), counted from the end (`a[#a - T_STATE_LAYOUT]`). Last, so that the library of
    /// an earlier version, which reads only the slots it knows, takes the same numbers: a gateway
    /// can be checked against it (StateLayoutTests).
    public enum Trailer: String, CaseIterable, Sendable {
        /// The subject header layout a call writes (``Settings/StateLayout``); both are read.
        case stateLayout
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

    /// A subject's header (a field of the state hash) in state layout 1, as `struct` packs it.
    /// `window` is K when the subject keeps a window (its ring lives in group fields), 0 when it
    /// keeps none. In layout 1 the newest bucket's counts live in its ring slot.
    public static let subjectHeaderLayout1: [(name: String, code: String)] = [
        ("window", "B"), ("newest", "d"), ("windowTokens", "d"), ("windowRequests", "I4"),
        ("day", "I4"), ("daySpentU", "d"), ("daySpentN", "I4"), ("dayHeldU", "d"), ("dayHeldN", "I4"), ("dayTokens", "d"),
        ("month", "I4"), ("monthSpentU", "d"), ("monthSpentN", "I4"), ("monthHeldU", "d"), ("monthHeldN", "I4"), ("monthTokens", "d"),
    ]

    /// The header in state layout 2: layout 1 followed by the newest bucket's counts, so a call
    /// within the bucket already started reads and writes no ring group.
    public static let subjectHeader = subjectHeaderLayout1 + [("newestTokens", "I4"), ("newestRequests", "I4")]

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

    /// Every name of the contract with its Lua literal: the engine's library is loaded with
    /// these names replaced by their values (``expand(_:)``), so the scripts read `L_TPM`,
    /// `S_DAY_HELD_U` or `RESERVE_ALLOWED` and pay nothing for it at run time.
    public static let constants: [String: String] = {
        var constants: [String: String] = [:]
        func indices(_ names: [String], _ prefix: String, from start: Int) {
            for (offset, name) in names.enumerated() { constants[prefix + luaName(name)] = String(start + offset) }
        }
        func text(_ name: String, _ value: String) { constants[name] = "'\(value)'" }
        indices(Common.allCases.map(\.rawValue), "N_", from: 1)
        indices(Reserve.allCases.map(\.rawValue), "RN_", from: Common.allCases.count + 1)
        indices(Settle.allCases.map(\.rawValue), "SN_", from: Common.allCases.count + 1)
        indices(Level.allCases.map(\.rawValue), "L_", from: 1)
        indices(Trailer.allCases.reversed().map(\.rawValue), "T_", from: 0)
        constants["LEVEL_SIZE"] = String(Level.allCases.count)
        for kind in LimitKind.allCases { text("LIMIT_" + luaName("\(kind)"), kind.rawValue) }
        indices(subjectHeader.map(\.name), "S_", from: 1)
        func size(_ fields: [(name: String, code: String)]) -> String {
            String(fields.reduce(0) { size, field in size + (field.code == "B" ? 1 : field.code == "d" ? 8 : Int(field.code.dropFirst()) ?? 0) })
        }
        text("SUBJECT_FORMAT", "<" + subjectHeader.map(\.code).joined())
        constants["SUBJECT_SIZE"] = size(subjectHeader)
        text("SUBJECT_FORMAT_1", "<" + subjectHeaderLayout1.map(\.code).joined())
        constants["SUBJECT_SIZE_1"] = size(subjectHeaderLayout1)
        indices(holdRecord.map(\.name), "H_", from: 1)
        text("HOLD_FORMAT", "<" + holdRecord.map(\.code).joined())
        indices(outcomeRecord.map(\.name), "O_", from: 1)
        text("OUTCOME_FORMAT", "<" + outcomeRecord.map(\.code).joined())
        for outcome in Outcome.allCases { text("OUTCOME_" + luaName("\(outcome)"), outcome.rawValue) }
        indices(AttributionColumn.allCases.map { "\($0)" }, "A_", from: 1)
        constants["ATTRIBUTION_COUNT"] = String(AttributionColumn.allCases.count)
        // The ledger line: these columns, then the attribution columns as one tab-separated run.
        let fixed = LedgerColumn.allCases.filter { $0.rawValue < LedgerColumn.firstAttribution.rawValue }
        indices(fixed.map { "\($0)" }, "LC_", from: 1)
        constants["LEDGER_FIXED_COLUMNS"] = String(fixed.count)
        text("LEDGER_FORMAT", LedgerColumn.formatVersion)
        for status in ReserveStatus.allCases { constants["RESERVE_" + luaName("\(status)")] = String(status.rawValue) }
        for status in SettleStatus.allCases { constants["SETTLE_" + luaName("\(status)")] = String(status.rawValue) }
        for status in ReleaseStatus.allCases { constants["RELEASE_" + luaName("\(status)")] = String(status.rawValue) }
        return constants
    }()

    /// Lua definitions the library starts with (what cannot be a literal).
    public static var luaPrelude: String {
        "-- Generated from ScriptContract.swift.\nlocal LIMIT_KINDS = { " + LimitKind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ") + " }\n"
    }

    /// `source` with every contract name replaced by its literal.
    public static func expand(_ source: String) -> String {
        var result = ""
        result.reserveCapacity(source.utf8.count)
        var word = ""
        func flush() {
            result += constants[word] ?? word
            word = ""
        }
        for character in source {
            if character.isLetter || character.isNumber || character == "_" {
                word.append(character)
            } else {
                flush()
                result.append(character)
            }
        }
        flush()
        return result
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
}
