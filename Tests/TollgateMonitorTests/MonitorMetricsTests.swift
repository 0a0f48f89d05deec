import Foundation
import Prometheus
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateMonitor
import TollgateRedis

@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct MonitorMetricsTests {
    /// The sum of a metric's series over expositions, for the series whose labels contain
    /// every one of `labels` (`kind="input"`).
    static func sum(_ name: String, _ labels: [String] = [], in texts: [String]) -> Int64 {
        var total: Int64 = 0
        for text in texts {
            for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
                guard labels.allSatisfy({ line.contains($0) }), let value = line.split(separator: " ").last.flatMap({ Int64($0) }) else { continue }
                total += value
            }
        }
        return total
    }

    @Test func tokensCostAndHoldAgeEqualTheLedgerAcrossMonitors() async throws {
        let fixture = try await MonitorFixture.make()
        var cost: Int64 = 0, input: Int64 = 0, output: Int64 = 0
        // One reserved and committed call (it has a hold age), then records without a reservation.
        let plan = try fixture.plan()
        let price = try fixture.configuration.price("test-model", for: plan, at: MonitorFixture.now)
        let engine = try fixture.engine()
        let decision = try await engine.reserve(ReserveRequest(requestID: "held", model: "test-model", inputTokens: 500, maxOutputTokens: 100),
                                                plan: plan, price: price, settings: fixture.configuration.settings)
        guard case .allowed = decision else { Issue.record("reservation refused: \(decision)"); return }
        let settlement = try await engine.settle(SettleRequest(kind: .commit, requestID: "held", usage: TokenUsage(input: 480, output: 90)),
                                                 plan: plan, settings: fixture.configuration.settings)
        #expect(settlement.settledHold)
        cost += settlement.cost.nanos; input += 480; output += 90
        for index in 0..<40 {
            cost += try await fixture.record("r\(index)", input: Int64(100 + index), output: Int64(index % 5))
            input += Int64(100 + index); output += Int64(index % 5)
        }

        // Monitor a takes 10 entries and stalls; b counts the rest, then takes a's over; a's
        // late roll-up counts nothing, so it must add nothing to a's metrics either.
        let registryA = PrometheusCollectorRegistry(), registryB = PrometheusCollectorRegistry()
        let a = try fixture.monitor(consumer: "a", claimAfter: .milliseconds(300), registry: registryA)
        let b = try fixture.monitor(consumer: "b", claimAfter: .milliseconds(300), registry: registryB)
        let snapshot = try #require(await a.snapshot())
        _ = await b.snapshot()
        let consumerA = LedgerConsumer(monitor: a), consumerB = LedgerConsumer(monitor: b)
        await consumerA.ensureGroups(snapshot)
        let stolen = try await fixture.client.send(RedisCommand(
            "XREADGROUP", "GROUP", "rollup", "a", "COUNT", 10, "STREAMS", fixture.keys.ledger(organization: "acme"), ">"))
        #expect(LedgerConsumer.entries(fromRead: stolen).count == 10)
        while await consumerB.readNew(snapshot) {}
        try await Task.sleep(for: .milliseconds(400))
        #expect(await consumerB.claimAbandoned(snapshot))
        await consumerA.rollUp(LedgerConsumer.entries(fromRead: stolen), partition: fixture.keys.partition(of: "acme"), snapshot: snapshot)

        let texts = [registryA.emitToString(), registryB.emitToString()]
        #expect(Self.sum("tollgate_cost_nanounits_total", [#"model="test-model""#, #"tier="standard""#, #"currency="USD""#], in: texts) == cost)
        #expect(Self.sum("tollgate_tokens_total", [#"kind="input""#, #"model="test-model""#], in: texts) == input)
        #expect(Self.sum("tollgate_tokens_total", [#"kind="output""#], in: texts) == output)
        #expect(Self.sum("tollgate_tokens_total", [#"kind="reasoning""#], in: texts) == 0)
        #expect(Self.sum("tollgate_hold_age_at_settlement_seconds_count", [#"tier="standard""#], in: texts) == 1)
        #expect(Self.sum("tollgate_monitor_entries_rolled_up_total", in: texts) == 41)
        #expect(Self.sum("tollgate_monitor_entries_rolled_up_total", in: [texts[0]]) == 0)
        #expect(Self.sum("tollgate_cost_nanounits_total", in: [texts[0]]) == 0)
        for text in texts { #expect(!text.contains("acme") && !text.contains("k1")) }
        try await fixture.cleanUp()
    }

    @Test func unknownModelsAndTiersAreLabelledOther() async throws {
        let fixture = try await MonitorFixture.make()
        try await fixture.record("r1", input: 10, output: 1)
        // The model leaves the catalogue before the monitor counts the entry.
        var configuration = fixture.configuration
        configuration.pricing = PriceCatalogue([ModelPricing(model: "other-model", provider: "test",
                                                             versions: [PriceVersion(version: 1, effectiveFrom: 0, prices: try TokenPrices(input: "1.00", output: "2.00"))])])
        try await ConfigurationStore(redis: fixture.client, keys: KeyLayout(prefix: fixture.prefix)).update { current in
            current = configuration
            return ConfigurationStore.Change(actor: "test", action: "replace")
        }
        let registry = PrometheusCollectorRegistry()
        let monitor = try fixture.monitor(consumer: "a", registry: registry)
        let snapshot = try #require(await monitor.snapshot())
        let consumer = LedgerConsumer(monitor: monitor)
        await consumer.ensureGroups(snapshot)
        while await consumer.readNew(snapshot) {}
        let text = registry.emitToString()
        #expect(Self.sum("tollgate_tokens_total", [#"kind="input""#, #"model="other""#, #"tier="standard""#], in: [text]) == 10)
        #expect(!text.contains("test-model"))
        try await fixture.cleanUp()
    }
}
