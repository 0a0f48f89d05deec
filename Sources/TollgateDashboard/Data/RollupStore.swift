import Foundation
import TollgateCore
import TollgateRedis

/// Reads the monitor's roll-ups (never the ledger): one pipelined `HGETALL` per
/// organisation and period label.
struct RollupStore: Sendable {
    let redis: any RedisExecutor
    let keys: KeyLayout

    /// One roll-up row: organisation, period label, dimensions, totals.
    struct Row: Sendable {
        var organization: String
        var label: String
        var dimensions: RollupDimensions
        var totals: UsageTotals
    }

    /// What a set of roll-up hashes holds: rows, and latency histograms by organisation and model.
    struct Contents: Sendable {
        var rows: [Row] = []
        var latency: [String: [String: LatencyHistogram]] = [:]

        /// Latency histograms by model, over every organisation.
        var latencyByModel: [String: LatencyHistogram] {
            var result: [String: LatencyHistogram] = [:]
            for models in latency.values { for (model, histogram) in models { result[model, default: LatencyHistogram()].add(histogram) } }
            return result
        }
    }

    /// Every row of `organizations` × `labels` of `period`.
    func rows(_ organizations: [String], period: RollupPeriod, labels: [String]) async throws -> [Row] {
        try await contents(organizations, period: period, labels: labels).rows
    }

    /// Everything in the roll-ups of `organizations` × `labels` of `period`.
    func contents(_ organizations: [String], period: RollupPeriod, labels: [String]) async throws -> Contents {
        var commands: [RedisCommand] = []
        var owners: [(String, String)] = []
        commands.reserveCapacity(organizations.count * labels.count)
        for organization in organizations {
            for label in labels {
                commands.append(.keyed("HGETALL", keys.rollup(organization: organization, period: period, label: label)))
                owners.append((organization, label))
            }
        }
        // Sent in pipelines of at most `chunk` commands: the client's connection thread looks
        // over every in-flight command for deadlines on each wake-up, so one pipeline of
        // 300,000 (the overview of 10,000 organisations × 30 days) would cost quadratic time.
        var results: [Result<RedisReply, RedisError>] = []
        results.reserveCapacity(commands.count)
        let chunk = 500
        for start in stride(from: 0, to: commands.count, by: chunk) {
            results += await redis.pipeline(Array(commands[start..<min(start + chunk, commands.count)]))
        }
        var contents = Contents()
        for ((organization, label), result) in zip(owners, results) {
            let items = try result.get().array ?? []
            var fields: [(String, Int64)] = []
            fields.reserveCapacity(items.count / 2)
            for index in stride(from: 0, to: items.count - 1, by: 2) {
                if let field = items[index].string, let value = items[index + 1].int { fields.append((field, value)) }
            }
            for (dimensions, totals) in RollupReader.rows(fields) {
                contents.rows.append(Row(organization: organization, label: label, dimensions: dimensions, totals: totals))
            }
            for (model, histogram) in LatencyHistogram.read(fields) { contents.latency[organization, default: [:]][model, default: LatencyHistogram()].add(histogram) }
        }
        return contents
    }
}

extension Array where Element == RollupStore.Row {
    /// Totals grouped by a key, largest cost first (ties by key).
    func grouped(_ key: (RollupStore.Row) -> String) -> [(String, UsageTotals)] {
        var groups: [String: UsageTotals] = [:]
        for row in self { groups[key(row), default: UsageTotals()].add(row.totals) }
        return groups.sorted { ($0.value.costNanos, $1.key) > ($1.value.costNanos, $0.key) }
    }

    var total: UsageTotals {
        var total = UsageTotals()
        for row in self { total.add(row.totals) }
        return total
    }
}
