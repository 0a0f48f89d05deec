import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import TollgateCore
import TollgateRedis

/// Reads every partition's ledger through the shared consumer group and rolls entries up,
/// exactly once (see rollup.lua). Takes over entries a dead monitor left pending, and trims
/// each stream once every group has acknowledged what is trimmed.
struct LedgerConsumer: Service {
    let monitor: Monitor

    func run() async throws {
        guard let first = await monitor.snapshot() else { return }
        await ensureGroups(first)
        // A graceful shutdown lets the batch in hand finish (and be acknowledged) first.
        await cancelWhenGracefulShutdown {
            var lastClaim = ContinuousClock.now
            var lastTrim = ContinuousClock.now
            while !Task.isCancelled {
                guard let snapshot = monitor.watcher.snapshot else { break }
                var worked = await readNew(snapshot)
                if ContinuousClock.now - lastClaim >= monitor.configuration.claimAfter / 3 {
                    worked = await claimAbandoned(snapshot) || worked
                    lastClaim = ContinuousClock.now
                }
                if ContinuousClock.now - lastTrim >= monitor.configuration.trimInterval {
                    await trim(snapshot)
                    lastTrim = ContinuousClock.now
                }
                if !worked { try? await Task.sleep(for: monitor.configuration.idlePoll) }
            }
        }
    }

    func ensureGroups(_ snapshot: MonitorSnapshot) async {
        let keys = monitor.keys(snapshot)
        let commands = (0..<keys.partitions).map { RedisCommand("XGROUP", "CREATE", keys.ledger(partition: $0), monitor.configuration.group, "0", "MKSTREAM", keyIndex: 2) }
        for (partition, result) in await monitor.redis.pipeline(commands).enumerated() {
            if case .failure(let error) = result, error.prefix != "BUSYGROUP" {
                monitor.logger.error("cannot create the ledger consumer group", metadata: ["ledger.partition": "\(partition)", "redis.error": "\(error)"])
            }
        }
    }

    /// New entries of every partition (one pipelined read), rolled up.
    func readNew(_ snapshot: MonitorSnapshot) async -> Bool {
        let keys = monitor.keys(snapshot)
        let configuration = monitor.configuration
        let reads = (0..<keys.partitions).map { partition in
            RedisCommand("XREADGROUP", "GROUP", configuration.group, configuration.consumer, "COUNT", configuration.batchSize,
                         "STREAMS", keys.ledger(partition: partition), ">", keyIndex: 7)
        }
        var worked = false
        for (partition, result) in await monitor.redis.pipeline(reads).enumerated() {
            switch result {
            case .success(let reply):
                let entries = Self.entries(fromRead: reply)
                if !entries.isEmpty {
                    worked = true
                    await rollUp(entries, partition: partition, snapshot: snapshot)
                }
            case .failure(let error):
                if error.prefix == "NOGROUP" { await ensureGroups(snapshot) }
                monitor.logger.warning("ledger read failed", metadata: ["ledger.partition": "\(partition)", "redis.error": "\(error)"])
            }
        }
        return worked
    }

    /// Entries pending too long with another consumer (it died mid-batch), taken over.
    func claimAbandoned(_ snapshot: MonitorSnapshot) async -> Bool {
        let keys = monitor.keys(snapshot)
        let configuration = monitor.configuration
        let idle = configuration.claimAfter.components.seconds * 1_000 + configuration.claimAfter.components.attoseconds / 1_000_000_000_000_000
        var worked = false
        for partition in 0..<keys.partitions {
            guard let reply = try? await monitor.redis.send(RedisCommand(
                "XAUTOCLAIM", keys.ledger(partition: partition), configuration.group, configuration.consumer, idle, "0-0",
                "COUNT", configuration.batchSize, keyIndex: 1)),
                  let parts = reply.array, parts.count >= 2 else { continue }
            let entries = Self.entries(fromList: parts[1])
            guard !entries.isEmpty else { continue }
            worked = true
            monitor.metrics.entriesClaimed.increment(by: entries.count)
            monitor.logger.info("took over abandoned ledger entries", metadata: ["ledger.partition": "\(partition)", "ledger.entries": "\(entries.count)"])
            await rollUp(entries, partition: partition, snapshot: snapshot)
        }
        return worked
    }

    /// One script call for the batch: the entries are acknowledged and counted together.
    func rollUp(_ raw: [(id: String, line: String?)], partition: Int, snapshot: MonitorSnapshot) async {
        let keys = monitor.keys(snapshot)
        let configuration = monitor.configuration
        let ledger = keys.ledger(partition: partition)
        var entries: [LedgerEntry] = []
        var unreadable: [String] = []
        for item in raw {
            if let line = item.line, let entry = LedgerEntry(id: item.id, line: line) { entries.append(entry) } else { unreadable.append(item.id) }
        }
        if !unreadable.isEmpty {
            // Not a ledger line we know: acknowledged so it does not block the group, and counted.
            _ = try? await monitor.redis.send(RedisCommand("XACK", [ledger, configuration.group] + unreadable.map { $0 as any RedisArgument }, keyIndex: 1))
            monitor.metrics.entriesUnreadable.increment(by: unreadable.count)
            monitor.logger.warning("unreadable ledger entries acknowledged", metadata: ["ledger.partition": "\(partition)", "ledger.ids": "\(unreadable.prefix(5))"])
        }
        guard !entries.isEmpty else { return }

        var keyIndex: [String: Int] = [:]
        var keyList: [String] = []
        var retention: [Int] = []
        func index(_ key: String, _ seconds: Int) -> Int {
            if let known = keyIndex[key] { return known }
            keyList.append(key)
            retention.append(seconds)
            keyIndex[key] = keyList.count + 1  // KEYS[1] is the ledger
            return keyList.count + 1
        }
        /// The first index of a period's seven overview keys (rollup.lua's order), added together.
        func overview(_ period: RollupPeriod, _ label: String, _ seconds: Int) -> Int {
            let group = OverviewRollups.keys(keys, partition: partition, period: period, label: label)
            if let known = keyIndex[group[0]] { return known }
            let first = keyList.count + 2
            for key in group { _ = index(key, seconds) }
            return first
        }
        var perEntry: [any RedisArgument] = []
        var timezones: [String: TimeZone] = [:]
        for entry in entries {
            if timezones[entry.organization] == nil { timezones[entry.organization] = await monitor.timezone(of: entry.organization, snapshot) }
            let timezone = timezones[entry.organization]!
            let hour = RollupPeriod.hour.label(entry.at, timezone: timezone)
            let day = RollupPeriod.day.label(entry.at, timezone: timezone), month = RollupPeriod.month.label(entry.at, timezone: timezone)
            let dimensions = RollupDimensions(workspace: entry.workspace, key: entry.key, model: entry.model, user: entry.user, feature: entry.feature,
                                              experiment: entry.experiment)
            perEntry += [
                entry.id, dimensions.encoded,
                index(keys.rollup(organization: entry.organization, period: .hour, label: hour), configuration.hourRetentionSeconds),
                index(keys.rollup(organization: entry.organization, period: .day, label: day), configuration.dayRetentionSeconds),
                index(keys.rollup(organization: entry.organization, period: .month, label: month), configuration.monthRetentionSeconds),
                index(keys.hourlyCost(organization: entry.organization, label: hour), 2 * 86_400),
            ]
            perEntry += entry.usage.components.map { $0 as any RedisArgument }
            perEntry += [entry.costNanos, entry.reservedAt > 0 ? entry.estimatedTokens : 0, entry.cacheHit.map { $0 ? 1 : 0 } ?? -1,
                         entry.latencyMillis.map { LatencyHistogram.field(model: entry.model, millis: $0) } ?? "",
                         entry.organization, overview(.day, day, configuration.dayRetentionSeconds),
                         overview(.month, month, configuration.monthRetentionSeconds)]
        }
        var arguments: [any RedisArgument] = [configuration.group, entries.count, keyList.count]
        arguments += retention.map { $0 as any RedisArgument }
        arguments += perEntry
        do {
            let reply = try await monitor.redis.run(monitor.scripts.rollup, keys: [ledger] + keyList, arguments: arguments)
            guard let flags = reply.string, flags.utf8.count == entries.count else {
                monitor.logger.error("unexpected roll-up reply", metadata: ["ledger.partition": "\(partition)", "redis.reply": "\(reply)"])
                return
            }
            var counted = 0
            for (entry, flag) in zip(entries, flags.utf8) where flag == UInt8(ascii: "1") {
                counted += 1
                recordMetrics(of: entry, snapshot: snapshot)
            }
            monitor.metrics.entriesRolledUp.increment(by: counted)
            // The alert evaluator looks at the organisations that had activity, not at all of them.
            let active = Set(entries.map(\.organization)).map { [monitor.now, $0] as [any RedisArgument] }.joined()
            _ = try? await monitor.redis.send(RedisCommand("ZADD", [keys.activeOrganizations(partition: partition)] + Array(active), keyIndex: 1))
        } catch {
            // Not acknowledged: the entries stay pending and are taken over later.
            monitor.logger.error("roll-up failed", metadata: ["ledger.partition": "\(partition)", "redis.error": "\(error)"])
        }
    }

    /// The business metrics of one counted entry, its labels bounded by the configuration:
    /// a model the price catalogue does not name and a tier it does not define are `other`.
    func recordMetrics(of entry: LedgerEntry, snapshot: MonitorSnapshot) {
        let configuration = snapshot.configuration
        let model = configuration.pricing.entry(named: entry.model) == nil ? "other" : entry.model
        let tier = configuration.tiers[entry.tier] == nil ? "other" : entry.tier
        monitor.metrics.settled(entry, model: model, tier: tier, currency: configuration.settings.currency)
    }

    /// Trims each stream below the oldest entry some group still needs, and records the lag.
    func trim(_ snapshot: MonitorSnapshot) async {
        let keys = monitor.keys(snapshot)
        var lag: Int64 = 0
        for partition in 0..<keys.partitions {
            let ledger = keys.ledger(partition: partition)
            guard let groups = try? await monitor.redis.send(RedisCommand("XINFO", "GROUPS", ledger, keyIndex: 2)).array, !groups.isEmpty else { continue }
            var floor: StreamID?
            for group in groups {
                guard let fields = group.array else { continue }
                var info: [String: RedisReply] = [:]
                for index in stride(from: 0, to: fields.count - 1, by: 2) { info[fields[index].string ?? ""] = fields[index + 1] }
                guard let name = info["name"]?.string, let delivered = info["last-delivered-id"]?.string.flatMap(StreamID.init) else { continue }
                lag += info["lag"]?.int ?? 0
                var needed = delivered.next
                if (info["pending"]?.int ?? 0) > 0,
                   let summary = try? await monitor.redis.send(RedisCommand("XPENDING", ledger, name, keyIndex: 1)).array,
                   summary.count >= 2, let oldest = summary[1].string.flatMap(StreamID.init) {
                    needed = min(needed, oldest)
                }
                floor = floor.map { min($0, needed) } ?? needed
            }
            if let floor {
                _ = try? await monitor.redis.send(RedisCommand("XTRIM", ledger, "MINID", floor.description, keyIndex: 1))
            }
        }
        monitor.metrics.ledgerLag.record(lag)
    }

    // MARK: Replies

    static func entries(fromRead reply: RedisReply) -> [(id: String, line: String?)] {
        guard let streams = reply.array, let stream = streams.first?.array, stream.count == 2 else { return [] }
        return entries(fromList: stream[1])
    }

    static func entries(fromList list: RedisReply) -> [(id: String, line: String?)] {
        (list.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { return nil }
            let fields = parts[1].array ?? []
            let line = fields.count == 2 && fields[0].string == "e" ? fields[1].string : nil
            return (id, line)
        }
    }
}

/// A stream entry id, `<ms>-<seq>`.
struct StreamID: Comparable, CustomStringConvertible {
    var milliseconds: UInt64
    var sequence: UInt64

    init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let milliseconds = UInt64(parts[0]), let sequence = UInt64(parts[1]) else { return nil }
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    var next: StreamID { StreamID(milliseconds: milliseconds, sequence: sequence + 1) }
    var description: String { "\(milliseconds)-\(sequence)" }

    static func < (lhs: StreamID, rhs: StreamID) -> Bool { (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence) }
}
