import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RedisTestSupport
import Synchronization
import Testing
import TollgateCore
@testable import TollgateMonitor
import TollgateRedis

@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct MonitorTests {
    @Test func rollUpsEqualTheLedgerWhenAMonitorDiesMidBatch() async throws {
        let fixture = try await MonitorFixture.make()
        var expected = UsageTotals()
        for index in 0..<120 {
            let input = Int64(100 + index), output = Int64(index % 7)
            expected.costNanos += try await fixture.record("r\(index)", input: input, output: output, user: index.isMultiple(of: 3) ? "alice" : nil)
            expected.requests += 1
            expected.usage.input += input
            expected.usage.output += output
        }
        let a = try fixture.monitor(consumer: "a", claimAfter: .milliseconds(300))
        let b = try fixture.monitor(consumer: "b", claimAfter: .milliseconds(300))
        let snapshot = try #require(await a.snapshot())
        _ = await b.snapshot()
        let consumerA = LedgerConsumer(monitor: a)
        let consumerB = LedgerConsumer(monitor: b)
        await consumerA.ensureGroups(snapshot)
        // Monitor a reads a batch and dies before rolling it up: its entries stay pending.
        let stolen = try await fixture.client.send(RedisCommand(
            "XREADGROUP", "GROUP", "rollup", "a", "COUNT", 30, "STREAMS", fixture.keys.ledger(organization: "acme"), ">"))
        #expect(LedgerConsumer.entries(fromRead: stolen).count == 30)
        // Monitor b rolls up everything else, then, once a's entries have been idle long enough, takes them over.
        while await consumerB.readNew(snapshot) {}
        #expect(try await fixture.dayTotals().requests == 90)
        try await Task.sleep(for: .milliseconds(400))
        #expect(await consumerB.claimAbandoned(snapshot))
        // A late roll-up of the same entries by a "revived" a counts nothing: they are acknowledged.
        await consumerA.rollUp(LedgerConsumer.entries(fromRead: stolen), partition: fixture.keys.partition(of: "acme"), snapshot: snapshot)
        let totals = try await fixture.dayTotals()
        #expect(totals == expected)
        #expect(try await fixture.unacknowledged() == 0)
        // The ledger is trimmed once everything is acknowledged.
        await consumerB.trim(snapshot)
        #expect(try await fixture.client.send("XLEN", fixture.keys.ledger(organization: "acme")) == .integer(0))
        try await fixture.cleanUp()
    }

    @Test(.timeLimit(.minutes(2))) func twoMonitorProcessesOneKilledTotalsStayExact() async throws {
        let fixture = try await MonitorFixture.make()
        let executable = try ChildProcess.executable("tollgate")
        func start(_ name: String) throws -> ChildProcess {
            try ChildProcess(executable, ["monitor", "--redis", fixture.url, "--prefix", fixture.prefix, "--consumer", name,
                                          "--claim-seconds", "1", "--log-level", "warning", "--plain-logs"])
        }
        let first = try start("m1")
        let second = try start("m2")
        // A steady ledger for 5 s; m1 is killed (SIGKILL) halfway.
        var expected = UsageTotals()
        let started = ContinuousClock.now
        var index = 0
        var killed = false
        while ContinuousClock.now - started < .seconds(5) {
            let input = Int64.random(in: 1...5_000)
            expected.costNanos += try await fixture.record("s\(index)", input: input, key: index.isMultiple(of: 2) ? "k1" : "k2")
            expected.requests += 1
            expected.usage.input += input
            index += 1
            if !killed && ContinuousClock.now - started > .milliseconds(2_500) {
                first.signal(SIGKILL)
                killed = true
            }
        }
        _ = await first.wait(timeout: .seconds(5))
        // m2 takes over what m1 left pending and finishes the rest.
        var totals = UsageTotals()
        for _ in 0..<100 {
            totals = try await fixture.dayTotals()
            if totals.requests >= expected.requests, try await fixture.unacknowledged() == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(totals == expected, "rolled up \(totals.requests) of \(expected.requests)")
        #expect(try await fixture.unacknowledged() == 0)
        second.signal(SIGTERM)
        #expect(await second.wait(timeout: .seconds(10)) == 0)
        try await fixture.cleanUp()
    }

    @Test func expiredHoldsAreRefundedExactlyOnce() async throws {
        let fixture = try await MonitorFixture.make()
        let engine = try fixture.engine()
        let plan = try fixture.plan()
        let price = try fixture.configuration.price("test-model", for: plan, at: MonitorFixture.now)
        for index in 0..<40 {
            _ = try await engine.reserve(ReserveRequest(requestID: "h\(index)", model: "test-model", inputTokens: 1_000, maxOutputTokens: 0),
                                         plan: plan, price: price, settings: fixture.configuration.settings)
        }
        _ = try await engine.settle(SettleRequest(kind: .commit, requestID: "h0", usage: TokenUsage(input: 500)), plan: plan, settings: fixture.configuration.settings)
        // Not due yet: nothing expires.
        let early = try fixture.monitor(consumer: "x")
        _ = await early.snapshot()
        #expect(await HoldExpirer(monitor: early).expireDue(try #require(early.watcher.snapshot)) == 0)
        // Two monitors, 31 s later by their clocks, race over the same holds.
        let a = try fixture.monitor(consumer: "a", clockOffset: 31_000)
        let b = try fixture.monitor(consumer: "b", clockOffset: 31_000)
        let snapshotA = try #require(await a.snapshot())
        let snapshotB = try #require(await b.snapshot())
        async let expiredA = HoldExpirer(monitor: a).expireDue(snapshotA)
        async let expiredB = HoldExpirer(monitor: b).expireDue(snapshotB)
        let total = await expiredA + expiredB
        #expect(total == 39)
        let quota = try await engine.quota(plan: plan, settings: fixture.configuration.settings)
        let organization = quota.levels.first { $0.level.scope == .organization }!
        #expect(organization.monthHeld.nanos == 0)
        #expect(organization.monthSpent.nanos == 500_000)
        #expect(try await fixture.client.send("ZCARD", fixture.keys.holds(organization: "acme")) == .integer(0))
        try await fixture.cleanUp()
    }

    @Test func eachAlertFiresOncePerThresholdAndPeriod() async throws {
        let fixture = try await MonitorFixture.make(tier: Tier(name: "standard", limits: Limits(tpm: 1_000_000, dailyBudget: try Money(decimal: "0.01"), monthlyBudget: try Money(decimal: "1.00")),
                                                             alertThresholds: [50, 80, 100], tpmSaturationMinutes: 0))
        let a = try fixture.monitor(consumer: "a")
        let b = try fixture.monitor(consumer: "b")
        let snapshot = try #require(await a.snapshot())
        _ = await b.snapshot()
        let evaluatorA = AlertEvaluator(monitor: a)
        let evaluatorB = AlertEvaluator(monitor: b)
        #expect(await evaluatorA.evaluate(snapshot).isEmpty)

        try await fixture.record("a1", input: 6_000)  // $0.006 of $0.01: 60%
        let first = await evaluatorA.evaluate(snapshot) + (await evaluatorB.evaluate(snapshot))
        #expect(first.map(\.id).sorted() == ["acme/o/budget_daily/50/\(PeriodCalendar(timezone: TimeZone(identifier: "UTC")!).dayLabel(MonitorFixture.now))"])
        #expect(first.first?.message.contains("60% of the budget daily") == true)
        try await fixture.record("a2", input: 5_000)  // 110%
        let second = await evaluatorB.evaluate(snapshot) + (await evaluatorA.evaluate(snapshot))
        #expect(Set(second.map(\.threshold)) == [80, 100])
        #expect(second.count == 2)
        #expect(await evaluatorA.evaluate(snapshot).filter { $0.kind == "budget_threshold" }.isEmpty)
        // A new day is a new period: the daily thresholds can fire again (markers are per period).
        let markers = try await fixture.client.allKeys(prefix: fixture.prefix + ":").filter { $0.contains(":al:acme:") }
        #expect(markers.count >= 3)
        try await fixture.cleanUp()
    }

    @Test func projectedExhaustionOfTheMonthlyBudget() async throws {
        let fixture = try await MonitorFixture.make(tier: Tier(name: "standard", limits: Limits(monthlyBudget: try Money(decimal: "0.05")), alertThresholds: [100]))
        let monitor = try fixture.monitor(consumer: "a")
        let snapshot = try #require(await monitor.snapshot())
        let consumer = LedgerConsumer(monitor: monitor)
        await consumer.ensureGroups(snapshot)
        // $0.01 spent in the last hour: at that rate $0.04 more lasts 4 days; unless the month ends sooner, an alert.
        try await fixture.record("p1", input: 10_000)
        while await consumer.readNew(snapshot) {}
        let alerts = await AlertEvaluator(monitor: monitor).evaluate(snapshot)
        let projection = alerts.first { $0.kind == "budget_projection" }
        let calendar = PeriodCalendar(timezone: TimeZone(identifier: "UTC")!)
        // Runs out 4 days from now: the alert when the month lasts longer. Within ~15 minutes of
        // that cut (a few seconds pass between the monitor's clock and this one) either is right.
        let daysLeft = Double(calendar.resets(after: MonitorFixture.now).month - MonitorFixture.now) / 86_400_000
        if daysLeft > 4.01 {
            let alert = try #require(projection)
            #expect(alert.message.contains("runs out on \(calendar.dayLabel(MonitorFixture.now + 4 * 86_400_000))"))
        } else if daysLeft < 3.99 {
            #expect(projection == nil)
        }
        try await fixture.cleanUp()
    }

    @Test func webhooksAreSignedAndRetriedAfterA500() async throws {
        let secret = "webhook-secret-0123456789"
        let received = Mutex<[(timestamp: String, signature: String, attempt: String, body: [UInt8])]>([])
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let count = received.withLock { calls in
                calls.append((request.headers[HTTPField.Name("X-Tollgate-Timestamp")!] ?? "", request.headers[HTTPField.Name("X-Tollgate-Signature")!] ?? "",
                              request.headers[HTTPField.Name("X-Tollgate-Attempt")!] ?? "", Array(body.readableBytesView)))
                return calls.count
            }
            return count == 1 ? .internalServerError : .ok
        }
        let port = try RedisServer.freeLoopbackPort()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: .quiet)
        let fixture = try await MonitorFixture.make(tier: Tier(name: "standard", limits: Limits(dailyBudget: try Money(decimal: "0.01")), alertThresholds: [50]))
        let monitor = try fixture.monitor(consumer: "a", webhooks: [Webhook(url: "http://127.0.0.1:\(port)/hook", secret: secret)])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            group.addTask { try await monitor.alerts.run() }
            try await waitUntilListening(port: port)
            let snapshot = try #require(await monitor.snapshot())
            try await fixture.record("w1", input: 6_000)
            #expect(await AlertEvaluator(monitor: monitor).evaluate(snapshot).count == 1)
            for _ in 0..<50 where received.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(100)) }
            group.cancelAll()
        }
        let calls = received.withLock { $0 }
        #expect(calls.count == 2, "a 500, then a retry that succeeds")
        #expect(calls.map(\.attempt) == ["1", "2"])
        for call in calls {
            var message = Array(call.timestamp.utf8)
            message.append(UInt8(ascii: "."))
            message += call.body
            let expected = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8))).map { String(format: "%02x", $0) }.joined()
            #expect(call.signature == "sha256=" + expected)
            let alert = try JSONDecoder().decode(Alert.self, from: Data(call.body))
            #expect(alert.kind == "budget_threshold" && alert.threshold == 50 && alert.organization == "acme")
        }
        try await fixture.cleanUp()
    }
}
