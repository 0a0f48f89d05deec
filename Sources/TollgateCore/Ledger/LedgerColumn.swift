/// The columns of a ledger line, in order: `settle.lua` writes them (its constants are
/// generated from this list, see ``ScriptContract``), ``LedgerEntry`` reads them, and tests
/// build lines with ``LedgerEntry/line``.
public enum LedgerColumn: Int, CaseIterable, Sendable {
    case format, kind, requestID, organization, at, reservedAt, estimatedTokens
    case input, cachedInput, cacheWrite, output, reasoning, cost, latency, cacheHit, usageFormat, overLimits
    case model, provider, priceVersion, user, feature, session, tier, key, workspace, experiment

    /// The first column of the attribution run (``AttributionColumn``'s order).
    public static let firstAttribution = LedgerColumn.model
    /// The value of the `format` column.
    public static let formatVersion = "1"
    /// Lines written before the `experiment` column existed have one column fewer.
    public static let minimumCount = LedgerColumn.experiment.rawValue

    /// A ledger line of `values`, for tests and tools that write ledgers: a column not given is
    /// `0` for numbers, `-1` for latency and cache hit, empty for text, `1` for the format.
    public static func line(_ values: [LedgerColumn: String]) -> String {
        allCases.map { column in
            if let value = values[column] { return value }
            switch column {
            case .format: return formatVersion
            case .at, .reservedAt, .estimatedTokens, .input, .cachedInput, .cacheWrite, .output, .reasoning, .cost: return "0"
            case .latency, .cacheHit: return "-1"
            default: return ""
            }
        }
        .joined(separator: "\t")
    }
}

/// Who and what a request is attributed to: tab-separated in the hold, in settle's argument
/// and at the end of the ledger line, in this order.
public enum AttributionColumn: Int, CaseIterable, Sendable {
    case model, provider, priceVersion, user, feature, session, tier, key, workspace, experiment
}
