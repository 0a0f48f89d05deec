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

    /// The organisation's budget-period timezone (its tier's), UTC if unknown.
    public func timezone(of organization: String) -> TimeZone { configuration.timezone(of: organization) }
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
        alerts = AlertDelivery(redis: redis, channel: KeyLayout(prefix: keyPrefix).eventsChannel, webhooks: configuration.webhooks,
                               attempts: configuration.webhookAttempts, initialBackoff: configuration.webhookInitialBackoff,
                               timeout: configuration.webhookTimeout, concurrency: configuration.webhookConcurrency, queueLimit: configuration.webhookQueueLimit, metrics: metrics, logger: logger)
    }

    /// Everything the monitor runs; the caller puts them in a ServiceGroup.
    public var services: [any Service] {
        [watcher, alerts, LedgerConsumer(monitor: self), HoldExpirer(monitor: self), AlertEvaluator(monitor: self)]
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

    /// Redis' clock, with the test offset.
    var now: Int64 { watcher.now + configuration.clockOffsetMillis }
}
