import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateDashboard
@testable import TollgateMonitor
import TollgateRedis

/// A deployment on the shared Redis under a fresh prefix: `acme` (tier `standard`, UTC,
/// $1 a month) ⊃ `web` ⊃ `k1`; `globex` (tier `berlin`, Europe/Berlin) ⊃ `apps` ⊃ `g1`;
/// `test-model` at $1 / $2 per 1M tokens; dashboard tokens for an operator, for acme, and
/// a revoked one. Usage is recorded through the engine and rolled up by a real monitor.
///
/// Its clock (engines, monitor and dashboard alike) reads noon UTC of the day the test runs:
/// from 23:00 UTC Berlin is on the next day, and `globex`'s usage would land on another day
/// (and on a month's last day, in another month) than `acme`'s.
struct DashboardFixture {
    static let operatorSecret = "tgd_operator-secret"
    static let acmeSecret = "tgd_acme-secret"
    static let revokedSecret = "tgd_revoked-secret"

    let client: any RedisExecutor
    let redisConfiguration: RedisConfiguration
    let prefix: String
    let configuration: TollgateConfiguration
    let dashboard: Dashboard
    /// Added to the real clock: noon UTC today (``now``).
    let clockOffsetMillis: Int64

    static func hash(_ secret: String) -> String { SHA256.hash(data: Array(secret.utf8)).map { String(format: "%02x", $0) }.joined() }

    static func make(name: String = #function, cacheHitAlertPercent: Int? = nil,
                     dashboardConfiguration: DashboardConfiguration = DashboardConfiguration()) async throws -> DashboardFixture {
        let day: Int64 = 86_400_000
        let clockOffsetMillis = day / 2 - realNow % day
        var dashboardConfiguration = dashboardConfiguration
        dashboardConfiguration.clockOffsetMillis = clockOffsetMillis
        let client = try await TestRedis.client(connections: 2)
        let prefix = uniquePrefix(name)
        let standard = Tier(name: "standard", limits: Limits(tpm: 100_000, monthlyBudget: try Money(decimal: "1.00")), holdSeconds: 30,
                            cacheHitAlertPercent: cacheHitAlertPercent, cacheHitAlertMinimumRequests: 3)
        let berlin = Tier(name: "berlin", limits: Limits(dailyBudget: try Money(decimal: "0.50")), holdSeconds: 30, timezone: "Europe/Berlin")
        let configuration = TollgateConfiguration(
            pricing: PriceCatalogue([ModelPricing(model: "test-model", provider: "test",
                                                  versions: [PriceVersion(version: 1, effectiveFrom: 0, prices: try TokenPrices(input: "1.00", output: "2.00"))])]),
            tiers: [standard, berlin],
            organizations: [Organization(id: "acme", tier: "standard"), Organization(id: "globex", tier: "berlin")],
            workspaces: [Workspace(id: "web", organization: "acme"), Workspace(id: "apps", organization: "globex")],
            keys: [APIKey(id: "k1", workspace: "web"), APIKey(id: "g1", workspace: "apps")],
            dashboardTokens: [
                DashboardToken(id: "dtok_op", name: "ops", sha256: hash(operatorSecret), scope: .operator, createdAt: 0),
                DashboardToken(id: "dtok_acme", name: "acme", sha256: hash(acmeSecret), scope: .customer, organization: "acme", createdAt: 0),
                DashboardToken(id: "dtok_old", name: "old", sha256: hash(revokedSecret), scope: .operator, createdAt: 0, revoked: true),
            ])
        try await ConfigurationStore(redis: client, keys: KeyLayout(prefix: prefix)).update { current in
            current = configuration
            return ConfigurationStore.Change(actor: "test", action: "replace")
        }
        let redisConfiguration = try await TestRedis.configuration()
        let dashboard = try Dashboard(configuration: dashboardConfiguration, redis: client, redisConfiguration: redisConfiguration,
                                      keyPrefix: prefix, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        await dashboard.watcher.refresh()
        await dashboard.customers.refresh()
        return DashboardFixture(client: client, redisConfiguration: redisConfiguration, prefix: prefix, configuration: configuration, dashboard: dashboard,
                                clockOffsetMillis: clockOffsetMillis)
    }

    var keys: KeyLayout { KeyLayout(prefix: prefix, partitions: configuration.settings.partitions) }
    static var realNow: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
    /// The fixture's clock: a few seconds past noon UTC today.
    var now: Int64 { Self.realNow + clockOffsetMillis }

    /// Records one request's usage and returns its cost in nanos.
    @discardableResult
    /// `daysAgo` sets the engine's clock back that many days.
    func record(_ id: String, key: String, input: Int64, output: Int64 = 0, user: String? = nil, feature: String? = nil, experiment: String? = nil,
                latency: Int64? = nil, cacheHit: Bool? = nil, daysAgo: Int64 = 0) async throws -> Int64 {
        let at = now - daysAgo * 86_400_000
        let plan = try configuration.plan(apiKey: key, user: user, at: at)
        let engine = QuotaEngine(redis: client, keys: keys, scripts: try QuotaScripts.load(), clockOffsetMillis: clockOffsetMillis - daysAgo * 86_400_000)
        return try await engine.settle(SettleRequest(kind: .record, requestID: id, usage: TokenUsage(input: input, output: output),
                                                     price: try configuration.price("test-model", for: plan, at: at),
                                                     user: user, feature: feature, experiment: experiment, latencyMillis: latency, cacheHit: cacheHit),
                                       plan: plan, settings: configuration.settings).cost.nanos
    }

    /// Reserves `estimate` input tokens, then commits `input`; returns the cost in nanos.
    @discardableResult
    func reserveAndCommit(_ id: String, key: String, estimate: Int64, input: Int64, latency: Int64? = nil, cacheHit: Bool? = nil) async throws -> Int64 {
        let plan = try configuration.plan(apiKey: key, at: now)
        let engine = QuotaEngine(redis: client, keys: keys, scripts: try QuotaScripts.load(), clockOffsetMillis: clockOffsetMillis)
        _ = try await engine.reserve(ReserveRequest(requestID: id, model: "test-model", inputTokens: estimate, maxOutputTokens: 1), plan: plan,
                                     price: try configuration.price("test-model", for: plan, at: now), settings: configuration.settings)
        return try await engine.settle(SettleRequest(kind: .commit, requestID: id, usage: TokenUsage(input: input), latencyMillis: latency, cacheHit: cacheHit),
                                       plan: plan, settings: configuration.settings).cost.nanos
    }

    /// A monitor on the fixture's prefix (not running: tests call its parts).
    func monitor() throws -> Monitor {
        try Monitor(configuration: MonitorConfiguration(consumer: "t", batchSize: 100, clockOffsetMillis: clockOffsetMillis),
                    redis: client, redisConfiguration: redisConfiguration, keyPrefix: prefix, registry: PrometheusCollectorRegistry(),
                    logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Rolls every ledger entry up with a real monitor's consumer.
    func rollUp() async throws {
        let monitor = try monitor()
        let snapshot = try #require(await monitor.snapshot())
        let consumer = LedgerConsumer(monitor: monitor)
        await consumer.ensureGroups(snapshot)
        while await consumer.readNew(snapshot) {}
    }

    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: dashboard.buildRouter(), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.router, body)
    }

    static func headers(_ secret: String?) -> HTTPFields {
        var fields: HTTPFields = [:]
        if let secret { fields[.authorization] = "Bearer \(secret)" }
        return fields
    }

    func cleanUp() async throws {
        try await client.deleteKeys(prefix: prefix + ":")
        await client.shutdown()
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
}
