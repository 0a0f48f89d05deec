import Logging
import ServiceLifecycle
import Synchronization
import TollgateRedis

/// Follows the customer change stream and removes what each change touches from a
/// ``CustomerCache``. It reads on every pub/sub notice and every `pollInterval` (a missed
/// notice costs at most one interval), always from the last entry it read, so a process that
/// was disconnected catches up on reconnecting. If the entries after it were trimmed away
/// (sequence numbers not contiguous), it drops the whole cache and starts over.
public final class CustomerChangeFeed: Service, Sendable {
    let store: CustomerStore
    public let cache: CustomerCache
    let subscriberConfiguration: RedisConfiguration
    let pollInterval: Duration
    let readGap: Duration
    let preloadLimit: Int
    let partitions: @Sendable () -> Int?
    let startsWhen: @Sendable () -> Bool
    let logger: Logger
    private let position = Mutex<Position>(Position())

    struct Position {
        var lastID = "0-0"
        var started = false
        /// Polls in a row that found the counter ahead of the stream (a stream replaced behind
        /// our back: restart after two).
        var stalls = 0
    }

    /// - Parameter preloadLimit: when the store holds at most this many API keys (and tokens),
    ///   every one is loaded at start, so a small deployment's gateway knows all its customers
    ///   (their tiers' failure modes included) even if Redis goes away right after it started.
    ///   A larger store preloads this many keys of the organisations the monitor saw active
    ///   most recently (see ``preloadActive(at:partitions:)``).
    /// - Parameter partitions: the configuration's partition count (where those activity sets
    ///   live); nil preloads no active keys.
    /// - Parameter startsWhen: the feed starts (and preloads) only once this is true — a gateway
    ///   waits for its configuration, which comes after a first start's migration of customers.
    /// - Parameter readGap: after a read, the feed waits this long before the next, so notices
    ///   that arrive meanwhile are read together: under 1,000 changes a second, a read every 20 ms
    ///   (a batch of ~20) instead of one round trip per change on the connections requests use.
    ///   A change is read at once if the last read was longer ago than this, else at most
    ///   this much later.
    public init(store: CustomerStore, cache: CustomerCache, subscriberConfiguration: RedisConfiguration, pollInterval: Duration,
                readGap: Duration = CustomerChangeFeed.defaultReadGap,
                preloadLimit: Int = 0, partitions: @escaping @Sendable () -> Int? = { nil },
                startsWhen: @escaping @Sendable () -> Bool = { true }, logger: Logger) {
        self.readGap = readGap
        self.partitions = partitions
        self.startsWhen = startsWhen
        self.preloadLimit = min(preloadLimit, cache.capacity / 2)
        self.store = store
        self.cache = cache
        self.subscriberConfiguration = subscriberConfiguration
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public static let defaultReadGap: Duration = .milliseconds(20)

    /// Whether the feed has found its starting point (until then the cache keeps nothing).
    public var isStarted: Bool { position.withLock { $0.started } }

    public func run() async throws {
        await followNotices(on: store.keys.customerChannel, subscriberConfiguration: subscriberConfiguration, pollInterval: pollInterval, logger: logger) {
            await self.poll()
            if self.readGap > .zero { try? await Task.sleep(for: self.readGap) }
        }
    }

    /// Reads what changed since the last read and applies it; starts first if needed.
    public func poll() async {
        do {
            if !isStarted {
                guard startsWhen() else { return }
                try await start()
            }
            while try await readBatch() {}
        } catch {
            logger.warning("customer change feed read failed; catching up on the next poll", metadata: ["customers.error": "\(error)"])
        }
    }

    /// Starts at the end of the stream with an empty cache.
    func start() async throws {
        let replies = await store.redis.pipeline([
            .keyed("XREVRANGE", store.keys.customerChanges, "+", "-", "COUNT", 1),
            .keyed("GET", store.keys.customerSequence),
        ])
        let last = try Self.entries(try replies[0].get()).first
        let sequence = try replies[1].get().int ?? 0
        let start = last?.change.sequence ?? sequence
        cache.reset(at: start)
        if preloadLimit > 0 { try await preload(at: start) }
        position.withLock { $0 = Position(lastID: last?.id ?? "0-0", started: true) }
    }

    /// Loads every key (with its workspace and organisation) and every token, if there are at
    /// most ``preloadLimit`` of each; otherwise the keys of the most recently active
    /// organisations. Kept as of `sequence`: changes after it invalidate them.
    func preload(at sequence: Int64) async throws {
        if try await store.count(.key) <= preloadLimit {
            var keys: [APIKey] = []
            try await store.each({ try await self.store.keys(after: $0, limit: CustomerStore.maximumPageSize) }) { keys.append($0) }
            try await keep(keys, at: sequence)
        } else if let partitions = partitions() {
            try await preloadActive(at: sequence, partitions: partitions)
        }
        if try await store.count(.token) <= preloadLimit {
            try await store.each({ try await self.store.tokens(after: $0, limit: CustomerStore.maximumPageSize) }) {
                self.cache.keep(token: $0, sha256: $0.sha256, sequence: sequence)
            }
        }
    }

    /// Up to ``preloadLimit`` keys of the organisations with the most recent activity, newest
    /// first: the sets the monitor keeps per partition (an organisation and when its last
    /// ledger entry was consumed, the last 25 hours). So an outage right after a gateway started
    /// refuses (503) only keys idle for a long time, or all unseen keys when no monitor runs.
    func preloadActive(at sequence: Int64, partitions: Int) async throws {
        let layout = KeyLayout(prefix: store.keys.prefix, partitions: partitions)
        let replies = await store.redis.pipeline((0..<layout.partitions).map {
            // ZRANGE … REV: the gateway's ACL grants ZRANGE, not ZREVRANGE.
            .keyed("ZRANGE", layout.activeOrganizations(partition: $0), 0, preloadLimit - 1, "REV", "WITHSCORES")
        })
        var active: [(organization: String, at: Double)] = []
        for reply in replies {
            let items = try reply.get().array ?? []
            for index in stride(from: 0, to: items.count - 1, by: 2) {
                if let organization = items[index].string { active.append((organization, items[index + 1].string.flatMap(Double.init) ?? 0)) }
            }
        }
        active.sort { $0.at > $1.at }
        var keyIDs: [String] = []
        var start = 0
        while keyIDs.count < preloadLimit && start < active.count {
            let chunk = active[start..<min(active.count, start + 100)]
            let lists = await store.redis.pipeline(chunk.map { .keyed("ZRANGE", store.keys.organizationKeys($0.organization), 0, preloadLimit - 1) })
            for list in lists { keyIDs += try (list.get().array ?? []).compactMap(\.string) }
            start += 100
        }
        try await keep(try await store.records(.key, Array(keyIDs.prefix(preloadLimit))), at: sequence)
    }

    /// Keeps `keys` with their workspaces and organisations (read in MGET chunks).
    func keep(_ keys: [APIKey], at sequence: Int64) async throws {
        let workspaces: [Workspace] = try await store.records(.workspace, Array(Set(keys.map(\.workspace))).sorted())
        let organizations: [Organization] = try await store.records(.organization, Array(Set(workspaces.map(\.organization))).sorted())
        let workspaceByID = Dictionary(workspaces.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        let organizationByID = Dictionary(organizations.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        for key in keys {
            let workspace = workspaceByID[key.workspace]
            cache.keep(CustomerStore.KeyLookup(key: key, workspace: workspace, organization: workspace.flatMap { organizationByID[$0.organization] },
                                               sequence: sequence), id: key.id)
        }
    }

    /// One batch; true when there may be more.
    func readBatch() async throws -> Bool {
        let lastID = position.withLock { $0.lastID }
        let replies = await store.redis.pipeline([
            .keyed("XRANGE", store.keys.customerChanges, "(" + lastID, "+", "COUNT", 1_000),
            .keyed("GET", store.keys.customerSequence),
        ])
        let entries = try Self.entries(try replies[0].get())
        let counter = try replies[1].get().int ?? 0
        guard let last = entries.last else {
            let stalled = position.withLock { position -> Bool in
                position.stalls = counter > (cache.applied ?? 0) ? position.stalls + 1 : 0
                return position.stalls >= 2
            }
            if stalled { try await restart("the change stream is behind its counter") }
            return false
        }
        if !cache.apply(entries.map(\.change)) {
            // Entries after ours were trimmed away (or the stream was replaced): start again.
            try await restart("changes were trimmed from the stream before this process read them")
            return false
        }
        position.withLock {
            $0.lastID = last.id
            $0.stalls = 0
        }
        return entries.count == 1_000
    }

    func restart(_ why: String) async throws {
        logger.warning("customer cache dropped", metadata: ["customers.reason": "\(why)"])
        try await start()
    }

    static func entries(_ reply: RedisReply) throws -> [(id: String, change: CustomerChange)] {
        try (reply.array ?? []).map { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let fields = parts[1].array else {
                throw CustomerStoreError(.invalid, "unexpected change stream entry: \(entry)")
            }
            var values: [String: String] = [:]
            for index in stride(from: 0, to: fields.count - 1, by: 2) { values[fields[index].string ?? ""] = fields[index + 1].string }
            guard let sequence = values["seq"].flatMap({ Int64($0) }), let kind = values["kind"].flatMap(CustomerKind.init(rawValue:)), let subject = values["id"] else {
                throw CustomerStoreError(.invalid, "unexpected change stream entry: \(entry)")
            }
            return (id, CustomerChange(sequence: sequence, kind: kind, id: subject))
        }
    }
}
