import Foundation
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateMonitor
import TollgateRedis

/// Enforcement, alerts, `tollgate status` and `tollgate budget show` read "which limits apply"
/// from one place, so they agree — here on a user whose cap depends on the workspace's tier.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"))
struct LimitAgreementTests {
    /// Organisation `acme` on `basic` (users capped at $0.10 a day) ⊃ `web` (no tier of its own)
    /// ⊃ `k1`, and `team` on `pro` (users capped at $0.01 a day) ⊃ `k2`; alice spent $0.012 via `k2`.
    @Test func aWorkspaceTiersUserCapIsTheOneEveryReaderUses() async throws {
        let basic = Tier(name: "basic", userCaps: UserCaps(dailySpend: try Money(decimal: "0.10")), alertThresholds: [10, 100])
        let pro = Tier(name: "pro", userCaps: UserCaps(dailySpend: try Money(decimal: "0.01")), alertThresholds: [100])
        let configuration = TollgateConfiguration(
            pricing: PriceCatalogue([ModelPricing(model: "test-model", provider: "test",
                                                  versions: [PriceVersion(version: 1, effectiveFrom: 0, prices: try TokenPrices(input: "1.00", output: "2.00"))])]),
            tiers: [basic, pro],
            organizations: [Organization(id: "acme", tier: "basic")],
            workspaces: [Workspace(id: "web", organization: "acme"), Workspace(id: "team", organization: "acme", tier: "pro")],
            keys: [APIKey(id: "k1", workspace: "web"), APIKey(id: "k2", workspace: "team")])
        let fixture = try await MonitorFixture.make(configuration: configuration)
        let cli = CLI(redisURL: fixture.url, prefix: fixture.prefix)
        do {
            try await fixture.record("spent", input: 12_000, key: "k2", user: "alice")

            // Enforcement: through `team` alice is over pro's cap; through `web`, well under basic's.
            let engine = try fixture.engine()
            func reserve(_ key: String, _ id: String) async throws -> ReserveDecision {
                let plan = try fixture.plan(key, user: "alice")
                return try await engine.reserve(ReserveRequest(requestID: id, model: "test-model", inputTokens: 10, maxOutputTokens: 0, user: "alice"),
                                                plan: plan, price: try configuration.price("test-model", for: plan, at: MonitorFixture.now),
                                                settings: configuration.settings)
            }
            guard case .limited(let refusal, _) = try await reserve("k2", "via-team") else {
                Issue.record("alice was admitted through team although she is over pro's user cap")
                throw CancellationError()
            }
            #expect(refusal.reason == .userCap && refusal.scope == .user)
            guard case .allowed = try await reserve("k1", "via-web") else {
                Issue.record("alice was refused through web although she is at 12% of basic's user cap")
                throw CancellationError()
            }
            #expect(try await engine.release(requestID: "via-web", organization: "acme", timezoneOffsetMillis: 0, settings: configuration.settings)
                == .released(tokens: 10, cost: Money(nanos: 10_000, currency: configuration.settings.currency)))

            // Alerts: alice at 120% of pro's cap (its threshold 100) and 12% of basic's (threshold 10).
            let monitor = try fixture.monitor(consumer: "a")
            let snapshot = try #require(await monitor.snapshot())
            let userAlerts = await AlertEvaluator(monitor: monitor).evaluate(snapshot).filter { $0.scope == "user" }
                .map { "\($0.subject) \($0.of) \($0.threshold) \($0.percent)" }.sorted()
            #expect(userAlerts == ["alice 0.01 USD 100 120", "alice 0.10 USD 10 12"])

            // status: one row per tier capping alice, each with that tier's cap.
            let status = try await cli.ok(["status", "--org", "acme", "--threshold", "10", "--csv"])
            #expect(status.contains("acme,user,alice,pro,budget_daily,0.012,0.01,120,OVER"), "\(status)")
            #expect(status.contains("acme,user,alice,basic,budget_daily,0.012,0.10,12,near"), "\(status)")

            // budget show: the cap of the workspace named (directly or through its key).
            #expect(try await cli.ok(["budget", "show", "--org", "acme", "--workspace", "team", "--user", "alice", "--csv"]).contains("day,0.01,0.012,0.00,0.00,"))
            #expect(try await cli.ok(["budget", "show", "--org", "acme", "--key", "k2", "--user", "alice", "--csv"]).contains("day,0.01,0.012,0.00,0.00,"))
            #expect(try await cli.ok(["budget", "show", "--org", "acme", "--workspace", "web", "--user", "alice", "--csv"]).contains("day,0.10,0.012,0.00,0.088,"))
            // Without a workspace the cap is ambiguous: one clear sentence, non-zero exit.
            let ambiguous = try await cli.run(["budget", "show", "--org", "acme", "--user", "alice"])
            #expect(ambiguous.status != 0 && ambiguous.errors.contains("name --workspace or --key"), "\(ambiguous.errors)")
        } catch {
            try await fixture.cleanUp()
            throw error
        }
        try await fixture.cleanUp()
    }
}
