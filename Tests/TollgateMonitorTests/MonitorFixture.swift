import Foundation
import Logging
import Prometheus
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateMonitor
import TollgateRedis

/// A deployment on the shared Redis under a fresh prefix: organization `acme` (tier
/// `standard`, UTC) ⊃ `web` ⊃ `k1`, `k2`; `test-model` at $1 / $2 per 1M tokens.
struct MonitorFixture {
    let url: String
    let client: any RedisExecutor
    let subscriberConfiguration: RedisConfiguration
    let prefix: String
    let configuration: TollgateConfiguration

    static func make(tier: Tier = Tier(name: "standard", limits: Limits(monthlyBudget: try! Money(decimal: "1.00")), holdSeconds: 30),
                     name: String = #function) async throws -> MonitorFixture {
        let configuration = TollgateConfiguration(
            pricing: PriceCatalogue([ModelPricing(model: "test-model", provider: "test",
                                                  versions: [PriceVersion(version: 1, effectiveFrom: 0, prices: try TokenPrices(input: "1.00", output: "2.00"))])]),
            tiers: [tier],
            organizations: [Organization(id: "acme", tier: tier.name)],
            workspaces: [Workspace(id: "web", organization: "acme")],
            keys: [APIKey(id: "k1", workspace: "web"), APIKey(id: "k2", workspace: "web")])
        return try await make(configuration: configuration, name: name)
    }

    /// A deployment of `configuration` (it must price `test-model`).
    static func make(configuration: TollgateConfiguration, name: String = #function) async throws -> MonitorFixture {
        let client = try await TestRedis.client(connections: 2)
        let prefix = uniquePrefix(name)
        try await ConfigurationStore(redis: client, keys: KeyLayout(prefix: prefix)).update { current in
            current = configuration
            return ConfigurationStore.Change(actor: "test", action: "replace")
        }
        return MonitorFixture(url: try await TestRedis.url(), client: client, subscriberConfiguration: try await TestRedis.configuration(),
                              prefix: prefix, configuration: configuration)
    }

    var keys: KeyLayout { KeyLayout(prefix: prefix, partitions: configuration.settings.partitions) }

    func engine(clockOffset: Duration = .zero) throws -> QuotaEngine {
        QuotaEngine(redis: client, keys: keys, scripts: try QuotaScripts.load(),
                    clockOffsetMillis: clockOffset.components.seconds * 1_000 + clockOffset.components.attoseconds / 1_000_000_000_000_000)
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func plan(_ key: String = "k1", user: String? = nil) throws -> RequestPlan { try configuration.plan(apiKey: key, user: user, at: Self.now) }

    /// Records one request's usage; returns its cost in nanos.
    @discardableResult
    func record(_ id: String, input: Int64, output: Int64 = 0, key: String = "k1", user: String? = nil, feature: String? = nil,
                experiment: String? = nil) async throws -> Int64 {
        let plan = try plan(key, user: user)
        let settlement = try await engine().settle(SettleRequest(kind: .record, requestID: id, usage: TokenUsage(input: input, output: output),
                                                                 price: try configuration.price("test-model", for: plan, at: Self.now),
                                                                 user: user, feature: feature, experiment: experiment), plan: plan, settings: configuration.settings)
        return settlement.cost.nanos
    }

    /// A monitor in this process (its services are not started: tests call them directly).
    func monitor(consumer: String, claimAfter: Duration = .seconds(30), webhooks: [Webhook] = [], clockOffset: Int64 = 0,
                 registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) throws -> Monitor {
        try Monitor(configuration: MonitorConfiguration(consumer: consumer, batchSize: 50, claimAfter: claimAfter, webhooks: webhooks,
                                                        webhookAttempts: 4, webhookInitialBackoff: .milliseconds(100), clockOffsetMillis: clockOffset),
                    redis: client, redisConfiguration: subscriberConfiguration, keyPrefix: prefix, registry: registry, logger: .quiet)
    }

    /// Every day roll-up of acme, summed.
    func dayTotals() async throws -> UsageTotals {
        var total = UsageTotals()
        do {
            for name in try await client.allKeys(prefix: prefix + ":") where name.contains(":ru:d:acme:") {
                let items = try await client.send("HGETALL", name).array ?? []
                var fields: [(String, Int64)] = []
                for index in stride(from: 0, to: items.count - 1, by: 2) { fields.append((items[index].string ?? "", items[index + 1].int ?? 0)) }
                for totals in RollupReader.rows(fields).values { total.add(totals) }
            }
        }
        return total
    }

    /// Entries still pending or never delivered, over every partition.
    func unacknowledged(group: String = "rollup") async throws -> Int64 {
        var count: Int64 = 0
        for partition in 0..<keys.partitions {
            guard let groups = try? await client.send("XINFO", "GROUPS", keys.ledger(partition: partition)).array else { continue }
            for group in groups {
                guard let fields = group.array else { continue }
                for index in stride(from: 0, to: fields.count - 1, by: 2) where ["pending", "lag"].contains(fields[index].string ?? "") {
                    count += fields[index + 1].int ?? 0
                }
            }
        }
        return count
    }

    func cleanUp() async throws {
        try await client.deleteKeys(prefix: prefix + ":")
        await client.shutdown()
    }
}
