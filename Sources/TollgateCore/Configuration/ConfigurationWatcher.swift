import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TollgateRedis

/// Keeps the node's configuration snapshot current: reloads on a pub/sub notice, and polls
/// the version key so that a missed notice costs at most one poll interval. Also tracks
/// the offset between this machine's clock and Redis', so prices take effect on Redis time.
///
/// `Snapshot` is what the process keeps of each version (the gateway indexes tokens, for
/// example); `makeSnapshot` builds it once per version, off the request path.
public final class ConfigurationWatcher<Snapshot: Sendable>: Service, Sendable {
    private let store: ConfigurationStore
    private let subscriberConfiguration: RedisConfiguration
    private let pollInterval: Duration
    private let logger: Logger
    private let current = Mutex<(version: Int64, snapshot: Snapshot)?>(nil)
    private let clockOffset = Atomic<Int64>(0)
    private let makeSnapshot: @Sendable (TollgateConfiguration, Int64) -> Snapshot
    private let onChange: @Sendable (Snapshot, Int64) -> Void

    public init(store: ConfigurationStore, subscriberConfiguration: RedisConfiguration, pollInterval: Duration, logger: Logger,
                makeSnapshot: @escaping @Sendable (TollgateConfiguration, Int64) -> Snapshot,
                onChange: @escaping @Sendable (Snapshot, Int64) -> Void = { _, _ in }) {
        self.store = store
        self.subscriberConfiguration = subscriberConfiguration
        self.pollInterval = pollInterval
        self.logger = logger
        self.makeSnapshot = makeSnapshot
        self.onChange = onChange
    }

    /// The current snapshot; nil until the first configuration has been loaded.
    public var snapshot: Snapshot? { current.withLock { $0?.snapshot } }

    public var version: Int64? { current.withLock { $0?.version } }

    /// Now, in ms since 1970, on Redis' clock (this machine's clock plus the measured offset).
    public var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) + clockOffset.load(ordering: .relaxed) }

    public func run() async throws {
        await followNotices(on: store.keys.configurationChannel, subscriberConfiguration: subscriberConfiguration, pollInterval: pollInterval, logger: logger) {
            await self.refresh()
        }
    }

    /// Reads the version (and Redis' time); loads the document if the version moved.
    public func refresh() async {
        do {
            let sent = Int64(Date().timeIntervalSince1970 * 1000)
            let (version, redisTime) = try await store.versionAndTime()
            let received = Int64(Date().timeIntervalSince1970 * 1000)
            clockOffset.store(redisTime - (sent + received) / 2, ordering: .relaxed)
            if let known = self.version, known == version { return }
            var loaded = try await store.load()
            if loaded.configuration.carriesCustomers {
                // A document from before the customer store, or one `config import` wrote: its
                // customers become records first (every process may do it; they agree).
                let customers = CustomerStore(redis: store.redis, keys: store.keys, currency: loaded.configuration.settings.currency)
                try await customers.replaceCustomers(with: loaded, actor: "tollgate", action: "customers moved from the configuration document to records")
                loaded = try await store.load()
                if loaded.configuration.carriesCustomers { return }
            }
            let snapshot = makeSnapshot(loaded.configuration, loaded.version)
            let swapped = current.withLock { value -> Bool in
                guard value == nil || value!.version < loaded.version else { return false }
                value = (loaded.version, snapshot)
                return true
            }
            if swapped {
                logger.info("configuration loaded", metadata: ["config.version": "\(loaded.version)"])
                onChange(snapshot, loaded.version)
            }
        } catch {
            logger.warning("configuration refresh failed", metadata: ["config.error": "\(error)"])
        }
    }
}
