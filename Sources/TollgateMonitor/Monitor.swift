import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import TollgateCore
import TollgateRedis

/// The configuration a monitor works from.
public struct MonitorSnapshot: Sendable {
    public let configuration: TollgateConfiguration
    public let version: Int64

}

/// One monitor process: rolls the ledger up, expires abandoned holds, raises alerts. Any
/// number may run; they share the ledger through one consumer group and never count an
/// entry twice.
public final class Monitor: Sendable {
    public let configuration: MonitorConfiguration
    public let watcher: ConfigurationWatcher<MonitorSnapshot>
    let redis: any RedisExecutor
    let keyPrefix: String
    let scripts: QuotaScripts
    let metrics: MonitorMetrics
    let logger: Logger
    let alerts: AlertDelivery
    /// Organisations this monitor has needed lately (their tier's timezone), kept current by
    /// ``customerFeed``.
    let customers: CustomerCache
    let customerFeed: CustomerChangeFeed
    let customerStore: CustomerStore

    public init(configuration: MonitorConfiguration, redis: any RedisExecutor, redisConfiguration: RedisConfiguration, keyPrefix: String,
                registry: PrometheusCollectorRegistry, logger: Logger) throws {
        self.configuration = configuration
        self.redis = redis
        self.keyPrefix = keyPrefix
        self.logger = logger
        scripts = try QuotaScripts.load()
        metrics = MonitorMetrics(factory: DescribedMetricsFactory(registry: registry, descriptions: MonitorMetrics.descriptions))
        watcher = ConfigurationWatcher(
            store: ConfigurationStore(redis: redis, keys: KeyLayout(prefix: keyPrefix)), subscriberConfiguration: redisConfiguration,
            pollInterval: configuration.configurationPollInterval, logger: logger,
            makeSnapshot: { MonitorSnapshot(configuration: $0, version: $1) })
        customerStore = CustomerStore(redis: redis, keys: KeyLayout(prefix: keyPrefix))
        customers = CustomerCache(capacity: configuration.customerCacheSize)
        customerFeed = CustomerChangeFeed(store: customerStore, cache: customers, subscriberConfiguration: redisConfiguration,
                                          pollInterval: configuration.configurationPollInterval, logger: logger)
        alerts = AlertDelivery(redis: redis, channel: KeyLayout(prefix: keyPrefix).eventsChannel, webhooks: configuration.webhooks,
                               attempts: configuration.webhookAttempts, initialBackoff: configuration.webhookInitialBackoff,
                               timeout: configuration.webhookTimeout, concurrency: configuration.webhookConcurrency, queueLimit: configuration.webhookQueueLimit, metrics: metrics, logger: logger)
    }

    /// Everything the monitor runs; the caller puts them in a ServiceGroup.
    public var services: [any Service] {
        [watcher, customerFeed, alerts, LedgerConsumer(monitor: self), HoldExpirer(monitor: self), AlertEvaluator(monitor: self)]
    }

    func keys(_ snapshot: MonitorSnapshot) -> KeyLayout {
        KeyLayout(prefix: keyPrefix, partitions: snapshot.configuration.settings.partitions)
    }

    func engine(_ snapshot: MonitorSnapshot) -> QuotaEngine {
        QuotaEngine(redis: redis, keys: keys(snapshot), scripts: scripts, clockOffsetMillis: configuration.clockOffsetMillis)
    }

    /// Waits for the first configuration (a monitor has nothing to do without it), however
    /// long Redis takes to be reachable; nil only when the task is cancelled.
    func snapshot() async -> MonitorSnapshot? {
        var warned = false
        while !Task.isCancelled {
            if let snapshot = watcher.snapshot { return snapshot }
            await watcher.refresh()
            if let snapshot = watcher.snapshot { return snapshot }
            if !warned {
                logger.warning("waiting for the configuration (is Redis reachable, and has an admin configured Tollgate?)")
                warned = true
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return nil
    }

    /// The customer store in the snapshot's currency.
    func customerStore(_ snapshot: MonitorSnapshot) -> CustomerStore {
        var store = customerStore
        store.currency = snapshot.configuration.settings.currency
        return store
    }

    /// The organisation's budget-period timezone (its tier's), UTC if unknown or unreadable.
    func timezone(of organization: String, _ snapshot: MonitorSnapshot) async -> TimeZone {
        let found = try? await customers.organization(organization, store: customerStore(snapshot))
        return found.map { snapshot.configuration.timezone(of: $0) } ?? TimeZone(identifier: "UTC")!
    }

    /// Redis' clock, with the test offset.
    var now: Int64 { watcher.now + configuration.clockOffsetMillis }
}
