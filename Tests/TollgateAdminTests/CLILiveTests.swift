import Foundation
import NIOHTTP1
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// The CLI against a running gateway: what admins change is what requests get.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct CLILiveTests {
    static func ledger(_ redis: any RedisExecutor, prefix: String) async throws -> [LedgerEntry] {
        var entries: [LedgerEntry] = []
        let keys = KeyLayout(prefix: prefix, partitions: 16)
        for partition in 0..<16 {
            for entry in try await redis.send("XRANGE", keys.ledger(partition: partition), "-", "+").array ?? [] {
                guard let parts = entry.array, let id = parts[0].string, let fields = parts[1].array, fields.count == 2,
                      let line = fields[1].string, let parsed = LedgerEntry(id: id, line: line) else { continue }
                entries.append(parsed)
            }
        }
        return entries
    }

    @Test func aPriceChangeReachesARunningGatewayWithinASecond() async throws {
        let (cli, redis) = try await CLI.make()
        try await CLITests.setUpCustomer(cli)
        let created = try JSONValue.parse(try await cli.ok(["token", "create", "app", "--json"]))
        let token = try #require(created["secret"]?.stringValue)
        let gateway = try await GatewayProcess(redisURL: cli.redisURL, prefix: cli.prefix, name: "a", token: token)

        func call(_ id: String) async throws -> GatewayProcess.Reply {
            let reserve = try await gateway.post("/v1/reserve", #"{"request_id":"\#(id)","api_key":"k1","model":"test-model","input_tokens":1000,"max_output_tokens":0}"#)
            #expect(reserve.status == .ok)
            return try await gateway.post("/v1/commit", #"{"request_id":"\#(id)","api_key":"k1","usage":{"input_tokens":1000,"output_tokens":0,"total_tokens":1000}}"#)
        }
        #expect(try await call("before").json?["price_version"]?.stringValue == "test-model@1")

        try await cli.ok(["price", "set", "test-model", "--input", "4.00", "--output", "2.00", "--reason", "new contract"])
        // The change is made when the CLI has written it; from then on, within a second (plus
        // the scheduling slack of a loaded machine: a fresh-clone run took 1.2 s beside every suite).
        let changed = ContinuousClock.now
        var index = 0
        var version = ""
        while ContinuousClock.now - changed < .seconds(3) + schedulingSlack {
            index += 1
            version = try await call("after-\(index)").json?["price_version"]?.stringValue ?? ""
            if version == "test-model@2" { break }
        }
        let elapsed = ContinuousClock.now - changed
        #expect(version == "test-model@2")
        #expect(elapsed < .seconds(1) + schedulingSlack, "took \(elapsed)")
        // The ledger records which price each request paid.
        let entries = try await Self.ledger(redis, prefix: cli.prefix)
        let last = try #require(entries.first { $0.requestID == "after-\(index)" })
        #expect(last.priceVersion == "test-model@2")
        #expect(last.costNanos == 4_000_000)
        #expect(entries.first { $0.requestID == "before" }?.priceVersion == "test-model@1")
        #expect(await gateway.terminate() == 0)
        try await redis.deleteKeys(prefix: cli.prefix + ":")
        await redis.shutdown()
    }

    @Test func budgetsStatusAndWatch() async throws {
        let (cli, redis) = try await CLI.make()
        try await CLITests.setUpCustomer(cli)
        try await cli.ok(["tier", "set", "pro", "--daily-budget", "0.01"])
        // $0.009 of usage against a $0.01 daily budget: 90%.
        let configuration = try await cli.configuration(redis)
        let engine = QuotaEngine(redis: redis, keys: KeyLayout(prefix: cli.prefix), scripts: try QuotaScripts.load())
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let plan = try configuration.plan(apiKey: "k1", at: now)
        _ = try await engine.settle(SettleRequest(kind: .record, requestID: "u1", usage: TokenUsage(input: 9_000),
                                                  price: try configuration.price("test-model", for: plan, at: now)), plan: plan, settings: configuration.settings)

        #expect(try await cli.ok(["budget", "show", "--org", "acme", "--csv"]).contains("day,0.01,0.009,0.00,0.001,9000,"))
        let status = try await cli.ok(["status", "--json"])
        #expect(status.contains(#""limit":"budget_daily","used":"0.009","of":"0.01","percent":90,"state":"near""#))

        try await cli.ok(["budget", "credit", "--org", "acme", "--period", "day", "--amount", "0.004", "--reason", "refund for an outage"])
        #expect(try await cli.ok(["budget", "show", "--org", "acme", "--csv"]).contains("day,0.01,0.005,"))
        try await cli.ok(["budget", "reset", "--org", "acme", "--key", "k1", "--period", "month", "--reason", "test account"])
        #expect(try await cli.ok(["budget", "show", "--org", "acme", "--key", "k1", "--csv"]).contains("month,none,0.00,"))
        let audit = try await cli.ok(["audit", "--action", "budget", "--values"])
        #expect(audit.contains("refund for an outage") && audit.contains("0.009") && audit.contains("test account"))

        // watch prints events as they are published.
        let watch = try ChildProcess(try ChildProcess.executable("tollgate"), ["watch", "--seconds", "6", "--json"],
                                     environment: ["TOLLGATE_REDIS_URL": cli.redisURL, "TOLLGATE_KEY_PREFIX": cli.prefix], separateErrors: true)
        // Published until a subscriber takes it (PUBLISH answers how many did), so a slow start
        // of the watch process on a loaded machine is waited for, not raced; bounded by 5 s.
        var receivers: RedisReply = .integer(0)
        for _ in 0..<50 where receivers == .integer(0) {
            try await Task.sleep(for: .milliseconds(100))
            receivers = try await redis.send("PUBLISH", KeyLayout(prefix: cli.prefix).eventsChannel, #"{"at":1,"type":"limited","organization":"acme","reason":"tpm"}"#)
        }
        #expect(receivers == .integer(1), "subscribers that got the event: \(receivers)")
        #expect(await watch.wait(timeout: .seconds(15)) == 0)
        #expect(watch.output.contains(#""type":"limited""#))
        try await redis.deleteKeys(prefix: cli.prefix + ":")
        await redis.shutdown()
    }
}
