import Foundation

/// The overview's rankings by cost, one sorted set each per partition and period.
public enum OverviewRanking: String, Sendable, CaseIterable {
    case organization = "o"
    case user = "u"
    case feature = "f"
    case experiment = "x"
}

/// The monitor's roll-ups of a whole partition (every organisation in it) per day and month,
/// written by rollup.lua next to each organisation's own roll-ups, so the overview reads a
/// few keys per partition and period instead of one per organisation and day.
public enum OverviewRollups {
    /// The metrics kept per organisation (and in the totals and per model).
    public static let metrics = ["requests", "input", "cached_input", "cache_write", "output", "reasoning", "cost",
                                 "estimated", "estimated_actual", "cache_known", "cache_hits"]

    /// The seven keys of one partition and period, in rollup.lua's order: totals, models,
    /// details, then the rankings of organisations, users, features and experiments.
    public static func keys(_ keys: KeyLayout, partition: Int, period: RollupPeriod, label: String) -> [String] {
        [keys.overviewTotals(partition: partition, period: period, label: label),
         keys.overviewModels(partition: partition, period: period, label: label),
         keys.overviewDetails(partition: partition, period: period, label: label)]
            + [OverviewRanking.organization, .user, .feature, .experiment].map { keys.overviewRanking($0, partition: partition, period: period, label: label) }
    }

    /// The totals hash's fields (`<metric>`) as totals.
    public static func totals(_ fields: [(String, Int64)]) -> UsageTotals {
        var totals = UsageTotals()
        for (metric, value) in fields { totals.add(metric: metric, value) }
        return totals
    }

    /// The models hash's `<model>\t<metric>` fields, by model (latency fields are read by
    /// `LatencyHistogram.read`).
    public static func models(_ fields: [(String, Int64)]) -> [String: UsageTotals] {
        var result: [String: UsageTotals] = [:]
        // Scanned as bytes (a tab is one byte): String's own search walks grapheme clusters,
        // a cost that shows over a models hash of thousands of fields.
        for (field, value) in fields where field.utf8.first != UInt8(ascii: "@") {
            guard let tab = field.utf8.lastIndex(of: UInt8(ascii: "\t")) else { continue }
            result[String(field[..<tab]), default: UsageTotals()].add(metric: String(field[field.index(after: tab)...]), value)
        }
        return result
    }

    /// The details fields of one organisation, in `metrics` order.
    public static func organizationFields(_ organization: String) -> [String] {
        metrics.map { "o\t\(organization)\t\($0)" }
    }

    /// The details fields (requests, cost) of one ranking member `<org>\t<value>`.
    public static func memberFields(_ ranking: OverviewRanking, member: String) -> [String] {
        ["requests", "cost"].map { "\(ranking.rawValue)\t\(member)\t\($0)" }
    }

    /// Totals from `HMGET` values of `fields` (absent fields count nothing).
    public static func totals(fields: [String], values: [Int64?]) -> UsageTotals {
        var totals = UsageTotals()
        for (field, value) in zip(fields, values) {
            guard let value, let tab = field.lastIndex(of: "\t") else { continue }
            totals.add(metric: String(field[field.index(after: tab)...]), value)
        }
        return totals
    }
}
