import Logging
import TollgateCore
import TollgateRedis

/// What a replay made of one entry.
enum SpoolReplayStep: Sendable {
    case applied
    /// Redis answered, but the entry can never be applied (its api_key is gone, ...).
    case deadLetter(reason: String)
    /// Redis is unavailable: stop here; the replay starts over from this entry later.
    case stop(reason: String)
}

/// What one replay did.
public struct SpoolReplayReport: Sendable, Equatable {
    /// Entries the replay worked through (0: the spool was empty).
    public var entries = 0
    public var applied = 0
    public var deadLettered = 0
    /// Lines that were not entries, moved to the dead letters.
    public var unreadable = 0
    /// Why the replay stopped before the end, if it did.
    public var interruption: String?
}

extension Spool {
    /// Replays an unfinished replay, or else the spool moved aside, in order, with
    /// `apply` deciding each entry's fate. Idempotent: the settle and release scripts are
    /// keyed by request id, so entries applied before an interruption are harmless later.
    func replay(_ apply: (SpoolEntry) async -> SpoolReplayStep) async throws -> SpoolReplayReport {
        let batch = try await beginReplay()
        var report = SpoolReplayReport(entries: batch.entries.count, unreadable: batch.unreadable)
        guard batch.found else { return report }
        for (index, entry) in batch.entries.enumerated() {
            switch await apply(entry) {
            case .applied:
                report.applied += 1
            case .deadLetter(let reason):
                await deadLetter(entry, reason: reason)
                report.deadLettered += 1
            case .stop(let reason):
                report.interruption = reason
                return report
            }
            replayed(remaining: batch.entries[(index + 1)...])
        }
        try await finishReplay()
        return report
    }
}

extension SpoolEntry {
    /// The entry's plan under `configuration` (suspensions aside: the usage happened), or
    /// an error that no retry can cure: its api_key is gone, it carries no usage.
    func plan(in configuration: TollgateConfiguration, customers: CustomerCache, store: CustomerStore) async throws -> RequestPlan {
        if operation != .release && usage == nil { throw SpoolError(.replayFailed, "a spooled \(operation.rawValue) without usage") }
        var store = store
        store.currency = configuration.settings.currency
        guard let customer = try await customers.customer(key: apiKey, store: store) else { throw PlanError(.unknownKey, "unknown api_key") }
        return try configuration.plan(customer, user: user, at: spooledAt, ignoringSuspension: true)
    }

    /// Applies the entry to Redis, as the gateway would have: one script call.
    func apply(plan: RequestPlan, engine: QuotaEngine, settings: Settings) async throws {
        switch operation {
        case .commit, .record:
            guard let usage else { return }
            _ = try await engine.settle(SettleRequest(
                kind: operation == .commit ? .commit : .record, requestID: requestID, usage: usage, format: format,
                price: resolvedPrice, user: user, feature: feature, session: session, experiment: experiment,
                latencyMillis: latencyMillis, cacheHit: cacheHit), plan: plan, settings: settings)
        case .release:
            _ = try await engine.release(requestID: requestID, organization: plan.organization.id,
                                         timezoneOffsetMillis: plan.timezoneOffsetMillis, settings: settings)
        }
    }
}

/// Drains a spool without serving (`tollgate spool replay`): for a gateway that will not
/// come back. Takes the spool's lock, so it refuses a spool a live gateway owns.
public struct SpoolDrain: Sendable {
    public let path: String
    public let redis: any RedisExecutor
    public let keyPrefix: String
    public let logger: Logger

    public init(path: String, redis: any RedisExecutor, keyPrefix: String, logger: Logger) {
        self.path = path
        self.redis = redis
        self.keyPrefix = keyPrefix
        self.logger = logger
    }

    /// Replays until the spool is empty or Redis fails; then, if drained, removes the
    /// spool and its lock file (dead letters stay). Throws ``SpoolError`` for a spool in
    /// use or unreadable; Redis errors reading the configuration propagate.
    public func run() async throws -> (report: SpoolReplayReport, removed: Bool) {
        let spool = try Spool(path: path, limitBytes: .max)
        // Proxied calls the dead gateway left open go into the spool first (Docs/proxy.md).
        let journal = try CallJournal(spoolPath: path)
        let recovered = try await journal.recover(into: spool)
        if recovered > 0 { logger.info("calls left open spooled from the journal", metadata: ["proxy.recovered": "\(recovered)"]) }
        let configuration = try await ConfigurationStore(redis: redis, keys: KeyLayout(prefix: keyPrefix)).load().configuration
        let store = try await CustomerStore.open(redis: redis, keys: KeyLayout(prefix: keyPrefix))
        // Without a change feed the cache keeps nothing: one look-up per entry.
        let customers = CustomerCache(capacity: 2)
        let engine = QuotaEngine(redis: redis, keys: KeyLayout(prefix: keyPrefix, partitions: configuration.settings.partitions),
                                 scripts: try QuotaScripts.load())
        var total = SpoolReplayReport()
        // An unfinished replay first, then the spool itself: nothing else can arrive, the
        // lock is ours.
        for _ in 0..<2 {
            let report = try await spool.replay { entry in
                do {
                    try await entry.apply(plan: try await entry.plan(in: configuration, customers: customers, store: store), engine: engine, settings: configuration.settings)
                    return .applied
                } catch let error as EngineError {
                    // As the gateway: Redis unavailable or refusing work (OOM, NOPERM) stops the replay.
                    if let redisError = error.redis, redisError.availability != .rejected {
                        return .stop(reason: "Redis cannot take it now: \(redisError.message)")
                    }
                    logger.error("spool entry cannot be replayed", metadata: ["spool.request_id": "\(entry.requestID)", "spool.error": "\(error)"])
                    return .deadLetter(reason: error.message)
                } catch {
                    logger.error("spool entry cannot be replayed", metadata: ["spool.request_id": "\(entry.requestID)", "spool.error": "\(error)"])
                    return .deadLetter(reason: "\(error)")
                }
            }
            total.entries += report.entries
            total.applied += report.applied
            total.deadLettered += report.deadLettered
            total.unreadable += report.unreadable
            total.interruption = report.interruption
            if report.interruption != nil { break }
        }
        let removed = total.interruption == nil ? try await spool.removeIfDrained() : false
        if removed { journal.remove() }
        return (total, removed)
    }
}
