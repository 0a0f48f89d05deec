import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TollgateCore
import TollgateRedis

/// Counts refused reservations by partition, day (the organisation's timezone) and reason,
/// and adds the counts to Redis every `interval` (`HINCRBY` on `KeyLayout.refusals`): the
/// dashboard overview's refusals by reason. Off the request path; a node that dies loses at
/// most its last interval's counts, and counts that could not be written are kept for the
/// next attempt (at most `limit` distinct keys and reasons, beyond which new ones are dropped).
final class RefusalCounter: Service, Sendable {
    private struct Bucket: Hashable {
        var key: String
        var reason: String
    }

    private let redis: any RedisExecutor
    private let interval: Duration
    private let retentionSeconds: Int
    private let limit: Int
    private let logger: Logger
    private let counts = Mutex<[Bucket: Int64]>([:])

    init(redis: any RedisExecutor, interval: Duration = .seconds(1), retentionSeconds: Int = 400 * 86_400, limit: Int = 10_000, logger: Logger) {
        self.redis = redis
        self.interval = interval
        self.retentionSeconds = retentionSeconds
        self.limit = limit
        self.logger = logger
    }

    /// Counts one refusal of `organization` for `reason` at `time` (ms); never waits.
    func count(organization: String, reason: String, at time: Int64, timezone: TimeZone, keys: KeyLayout) {
        let label = RollupPeriod.day.label(time, timezone: timezone)
        add([Bucket(key: keys.refusals(partition: keys.partition(of: organization), label: label), reason: reason): 1])
    }

    private func add(_ more: [Bucket: Int64]) {
        counts.withLock { counts in
            for (bucket, count) in more where counts[bucket] != nil || counts.count < limit { counts[bucket, default: 0] += count }
        }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                await self.flush()
            }
        }
        await flush()
    }

    /// Writes what has been counted; what fails is counted again next time.
    func flush() async {
        let taken = counts.withLock { counts in
            let taken = counts
            counts = [:]
            return taken
        }
        guard !taken.isEmpty else { return }
        let buckets = Array(taken.keys)
        var commands = buckets.map { RedisCommand.keyed("HINCRBY", $0.key, $0.reason, taken[$0]!) }
        commands += Set(buckets.map(\.key)).map { RedisCommand.keyed("EXPIRE", $0, retentionSeconds) }
        var failed: [Bucket: Int64] = [:]
        for (index, result) in await redis.pipeline(commands).enumerated() where index < buckets.count {
            if case .failure(let error) = result, error.delivery == .notSent {
                failed[buckets[index]] = taken[buckets[index]]
            } else if case .failure(let error) = result {
                logger.warning("refusal counts may be lost", metadata: ["redis.error": "\(error)"])
            }
        }
        if !failed.isEmpty { add(failed) }
    }
}
