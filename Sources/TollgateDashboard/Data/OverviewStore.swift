import Foundation
import TollgateCore
import TollgateRedis

/// Reads the overview from the monitor's partition roll-ups (`OverviewRollups`): a range's
/// daily totals, per-model totals and the top N of each ranking, with their exact figures,
/// in a number of calls proportional to partitions × (days + N), not to organisations.
///
/// A month's roll-up stands in for the range's days of that month whenever the two agree
/// (the days of the month outside the range hold nothing): then a ranking is one sorted set
/// per partition. Otherwise the days' sets are merged by Redis (`ZUNION`).
struct OverviewStore: Sendable {
    let redis: any RedisExecutor
    let keys: KeyLayout

    /// One member of a ranking with its exact figures.
    struct Ranked: Sendable {
        var organization: String
        /// The user, feature or experiment ("" for an organisation, or when not given).
        var value: String
        var totals: UsageTotals
    }

    struct Overview: Sendable {
        var total = UsageTotals()
        /// Totals by day label (YYYYMMDD).
        var days: [String: UsageTotals] = [:]
        var models: [String: UsageTotals] = [:]
        var latency: [String: LatencyHistogram] = [:]
        var rankings: [OverviewRanking: [Ranked]] = [:]
        /// Refused reservations by reason (the gateways' counts).
        var refusals: [String: Int64] = [:]
    }

    /// The roll-ups one partition's figures come from: (period, label).
    private typealias Source = (period: RollupPeriod, label: String)

    func read(_ range: ReportRange, top: Int) async throws -> Overview {
        let days = range.dayLabels
        let months = Array(Set(days.map { String($0.prefix(6)) })).sorted()
        let partitions = 0..<keys.partitions
        var commands: [RedisCommand] = []
        for partition in partitions {
            for label in days { commands.append(.keyed("HGETALL", keys.overviewTotals(partition: partition, period: .day, label: label))) }
            for month in months { commands.append(.keyed("HGETALL", keys.overviewTotals(partition: partition, period: .month, label: month))) }
            for label in days { commands.append(.keyed("HGETALL", keys.refusals(partition: partition, label: label))) }
        }
        var replies = try await pipeline(commands).makeIterator()
        var overview = Overview()
        var chosen: [[Source]] = []
        for _ in partitions {
            var dayTotals: [String: UsageTotals] = [:]
            for label in days {
                let totals = OverviewRollups.totals(Self.fields(replies.next()!))
                if totals != UsageTotals() { dayTotals[label] = totals }
            }
            var partitionSources: [Source] = []
            for month in months {
                let monthTotals = OverviewRollups.totals(Self.fields(replies.next()!))
                let inRange = days.filter { $0.hasPrefix(month) && dayTotals[$0] != nil }
                var sum = UsageTotals()
                for label in inRange { sum.add(dayTotals[label]!) }
                if inRange.isEmpty { continue }
                partitionSources += sum == monthTotals ? [(.month, month)] : inRange.map { (.day, $0) }
            }
            for _ in days {
                for (reason, count) in Self.fields(replies.next()!) { overview.refusals[reason, default: 0] += count }
            }
            for (label, totals) in dayTotals {
                overview.days[label, default: UsageTotals()].add(totals)
                overview.total.add(totals)
            }
            chosen.append(partitionSources)
        }
        let sources = chosen

        // Models and the four rankings read the same sources independently: sent at once.
        async let models = models(sources)
        let rankings = try await withThrowingTaskGroup(of: (OverviewRanking, [Ranked]).self) { group in
            for ranking in OverviewRanking.allCases { group.addTask { (ranking, try await ranked(ranking, sources: sources, top: top)) } }
            var rankings: [OverviewRanking: [Ranked]] = [:]
            for try await (ranking, rows) in group { rankings[ranking] = rows }
            return rankings
        }
        overview.rankings = rankings
        (overview.models, overview.latency) = try await models
        return overview
    }

    /// Totals and latency by model: each partition's sources' model hashes.
    private func models(_ sources: [[Source]]) async throws -> (totals: [String: UsageTotals], latency: [String: LatencyHistogram]) {
        var commands: [RedisCommand] = []
        for (partition, partitionSources) in sources.enumerated() {
            for source in partitionSources {
                commands.append(.keyed("HGETALL", keys.overviewModels(partition: partition, period: source.period, label: source.label)))
            }
        }
        var totals: [String: UsageTotals] = [:], latency: [String: LatencyHistogram] = [:]
        for reply in try await pipeline(commands) {
            let fields = Self.fields(reply)
            for (model, modelTotals) in OverviewRollups.models(fields) { totals[model, default: UsageTotals()].add(modelTotals) }
            for (model, histogram) in LatencyHistogram.read(fields) { latency[model, default: LatencyHistogram()].add(histogram) }
        }
        return (totals, latency)
    }

    /// One model's totals by day label and its latency over the range, from every
    /// partition's day models hash (`HMGET` of the model's fields): partitions × days reads.
    func model(_ model: String, _ range: ReportRange) async throws -> (days: [String: UsageTotals], latency: LatencyHistogram) {
        // The models hash's fields of this model: `<model>\t<metric>`, then its latency buckets.
        let metricFields = OverviewRollups.metrics.map { "\(model)\t\($0)" }
        let latencyFields = (LatencyHistogram.bounds.map(String.init) + ["inf"]).map { "@latency\t\(model)\t\($0)" }
        let arguments = (metricFields + latencyFields).map { $0 as any RedisArgument }
        var commands: [RedisCommand] = []
        var labels: [String] = []
        for partition in 0..<keys.partitions {
            for label in range.dayLabels {
                commands.append(RedisCommand("HMGET", [keys.overviewModels(partition: partition, period: .day, label: label) as any RedisArgument] + arguments, keyIndex: 1))
                labels.append(label)
            }
        }
        var days: [String: UsageTotals] = [:]
        var latency = LatencyHistogram()
        for (label, reply) in zip(labels, try await pipeline(commands)) {
            let values = (reply.array ?? []).map(\.int)
            let totals = OverviewRollups.totals(fields: metricFields, values: Array(values.prefix(metricFields.count)))
            if totals != UsageTotals() { days[label, default: UsageTotals()].add(totals) }
            for (index, count) in values.dropFirst(metricFields.count).enumerated() where index < latency.counts.count {
                latency.counts[index] += count ?? 0
            }
        }
        return (days, latency)
    }

    /// The top members of a ranking over every partition, with their exact figures.
    private func ranked(_ ranking: OverviewRanking, sources: [[Source]], top: Int) async throws -> [Ranked] {
        var commands: [RedisCommand] = []
        var asked: [Int] = []
        for (partition, partitionSources) in sources.enumerated() where !partitionSources.isEmpty {
            let sets = partitionSources.map { keys.overviewRanking(ranking, partition: partition, period: $0.period, label: $0.label) }
            if sets.count == 1 {
                commands.append(RedisCommand("ZREVRANGE", [sets[0], 0, top - 1, "WITHSCORES"], keyIndex: 1))
            } else {
                commands.append(RedisCommand("ZUNION", [sets.count as any RedisArgument] + sets.map { $0 as any RedisArgument } + ["WITHSCORES"], keyIndex: 2))
            }
            asked.append(partition)
        }
        // Candidates by score (cost; a double, so only for choosing), largest first.
        var candidates: [(member: String, partition: Int, score: Double)] = []
        for (partition, reply) in zip(asked, try await pipeline(commands)) {
            let items = reply.array ?? []
            for index in stride(from: 0, to: items.count - 1, by: 2) {
                guard let member = items[index].string, let score = items[index + 1].string.flatMap(Double.init) else { continue }
                candidates.append((member, partition, score))
            }
        }
        candidates.sort { ($0.score, $1.member) > ($1.score, $0.member) }
        let chosen = candidates.prefix(top)

        // Exact figures: the members' detail fields in each of their partition's sources.
        var detailCommands: [RedisCommand] = []
        var owners: [(index: Int, fields: [String])] = []
        for (index, candidate) in chosen.enumerated() {
            let fields = ranking == .organization ? OverviewRollups.organizationFields(candidate.member)
                : OverviewRollups.memberFields(ranking, member: candidate.member)
            for source in sources[candidate.partition] {
                let key = keys.overviewDetails(partition: candidate.partition, period: source.period, label: source.label)
                detailCommands.append(RedisCommand("HMGET", [key as any RedisArgument] + fields.map { $0 as any RedisArgument }, keyIndex: 1))
                owners.append((index, fields))
            }
        }
        var totals = [UsageTotals](repeating: UsageTotals(), count: chosen.count)
        for ((index, fields), reply) in zip(owners, try await pipeline(detailCommands)) {
            totals[index].add(OverviewRollups.totals(fields: fields, values: (reply.array ?? []).map(\.int)))
        }
        return zip(chosen, totals).map { candidate, totals in
            let parts = candidate.member.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            return Ranked(organization: parts[0], value: parts.count > 1 ? parts[1] : "", totals: totals)
        }.sorted { ($0.totals.costNanos, $1.organization, $1.value) > ($1.totals.costNanos, $0.organization, $0.value) }
    }

    /// Replies in order, in pipelines of at most 500 (see RollupStore); the first error throws.
    private func pipeline(_ commands: [RedisCommand]) async throws -> [RedisReply] {
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for start in stride(from: 0, to: commands.count, by: 500) {
            for result in await redis.pipeline(Array(commands[start..<min(start + 500, commands.count)])) { replies.append(try result.get()) }
        }
        return replies
    }

    private static func fields(_ reply: RedisReply) -> [(String, Int64)] {
        let items = reply.array ?? []
        var fields: [(String, Int64)] = []
        fields.reserveCapacity(items.count / 2)
        for index in stride(from: 0, to: items.count - 1, by: 2) {
            if let field = items[index].string, let value = items[index + 1].int { fields.append((field, value)) }
        }
        return fields
    }
}
