import Foundation
import TollgateRedis

/// Day totals from the monitor's roll-ups, grouped by a dimension: what `tollgate usage report`
/// and the admin API's `GET /v1/usage` answer.
public enum UsageReport {
    /// One roll-up row: organisation, day (`YYYY-MM-DD`), dimensions, totals.
    public struct Row: Sendable {
        public var organization: String
        public var day: String
        public var dimensions: RollupDimensions
        public var totals: UsageTotals

        public init(organization: String, day: String, dimensions: RollupDimensions, totals: UsageTotals) {
            self.organization = organization
            self.day = day
            self.dimensions = dimensions
            self.totals = totals
        }
    }

    /// What a report may be grouped by.
    public static let dimensions = ["day", "organization", "workspace", "key", "model", "user", "feature", "experiment"]

    /// The longest range a report covers, in days.
    public static let maximumDays = 400

    /// Roll-up labels (YYYYMMDD) of the days from `from` to `to` (`YYYY-MM-DD`, inclusive).
    public static func days(from: String, to: String?) throws(ChangeRefusal) -> [String] {
        func parse(_ text: String, _ name: String) throws(ChangeRefusal) -> Int64 {
            guard text.count == 10, let millis = Timestamp.parse(text) else { throw ChangeRefusal(.invalid, "\(name) '\(text)' is not a date (YYYY-MM-DD)", field: name) }
            return millis
        }
        let start = try parse(from, "from")
        let end = try parse(to ?? from, "to")
        guard start <= end else { throw ChangeRefusal(.invalid, "from must not be after to", field: "from") }
        let count = Int((end - start) / 86_400_000) + 1
        guard count <= maximumDays else { throw ChangeRefusal(.invalid, "a report covers at most \(maximumDays) days", field: "to") }
        return labels(from: start, count: count)
    }

    /// Roll-up labels of `count` days from `start` (ms since 1970, UTC midnight).
    public static func labels(from start: Int64, count: Int) -> [String] {
        let utc = TimeZone(identifier: "UTC")!
        return (0..<count).map { RollupPeriod.day.label(start + Int64($0) * 86_400_000, timezone: utc) }
    }

    /// Every row of `organization` on `days` (labels): one pipelined HGETALL per day.
    public static func rows(redis: any RedisExecutor, keys: KeyLayout, organization: String, days: [String]) async throws -> [Row] {
        let commands = days.map { RedisCommand.keyed("HGETALL", keys.rollup(organization: organization, period: .day, label: $0)) }
        var result: [Row] = []
        for (day, reply) in zip(days, await redis.pipeline(commands)) {
            let items = try reply.get().array ?? []
            var fields: [(String, Int64)] = []
            for index in stride(from: 0, to: items.count - 1, by: 2) {
                if let field = items[index].string, let value = items[index + 1].int { fields.append((field, value)) }
            }
            let label = "\(day.prefix(4))-\(day.dropFirst(4).prefix(2))-\(day.suffix(2))"
            for (dimensions, totals) in RollupReader.rows(fields) { result.append(Row(organization: organization, day: label, dimensions: dimensions, totals: totals)) }
        }
        return result
    }

    /// The group a row falls in when grouped by `dimension` (`(none)` for an empty attribution).
    public static func group(_ row: Row, by dimension: String) -> String {
        switch dimension {
        case "organization": row.organization
        case "workspace": row.dimensions.workspace
        case "key": row.dimensions.key
        case "model": row.dimensions.model
        case "user": row.dimensions.user.isEmpty ? "(none)" : row.dimensions.user
        case "feature": row.dimensions.feature.isEmpty ? "(none)" : row.dimensions.feature
        case "experiment": row.dimensions.experiment.isEmpty ? "(none)" : row.dimensions.experiment
        default: row.day
        }
    }

    /// Totals per group, by group name.
    public static func grouped(_ rows: [Row], by dimension: String) -> [(String, UsageTotals)] {
        var groups: [String: UsageTotals] = [:]
        for row in rows { groups[group(row, by: dimension), default: UsageTotals()].add(row.totals) }
        return groups.sorted { $0.key < $1.key }
    }
}
