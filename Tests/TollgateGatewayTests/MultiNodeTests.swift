import Foundation
import NIOHTTP1
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// Two `tollgate serve` processes sharing one real Redis.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp, .serialized)
struct MultiNodeTests {
    /// A configuration written straight to Redis under `prefix`, as the CLI would.
    static func writeConfiguration(_ configuration: TollgateConfiguration, redis: any RedisExecutor, prefix: String) async throws {
        try await ConfigurationStore(redis: redis, keys: KeyLayout(prefix: prefix)).update { current in
            current = configuration
            return ConfigurationStore.Change(actor: "test", action: "replace")
        }
    }

    static func ledger(_ redis: any RedisExecutor, prefix: String, partitions: Int = 16) async throws -> [LedgerEntry] {
        var entries: [LedgerEntry] = []
        let keys = KeyLayout(prefix: prefix, partitions: partitions)
        for partition in 0..<partitions {
            let reply = try await redis.send("XRANGE", keys.ledger(partition: partition), "-", "+")
            for entry in reply.array ?? [] {
                guard let parts = entry.array, let id = parts[0].string, let fields = parts[1].array, fields.count == 2,
                      let line = fields[1].string, let parsed = LedgerEntry(id: id, line: line) else { continue }
                entries.append(parsed)
            }
        }
        return entries
    }

    @Test func limitsHoldAcrossNodes() async throws {
        let url = try await TestRedis.url()
        let redis = try await TestRedis.client()
        let prefix = uniquePrefix()
        // 6 s window, 200 ms buckets: the rolling-window code of the 60 s default, in a short test.
        try await Self.writeConfiguration(GatewayFixture.configuration(standard: Limits(tpm: 30_000), settings: Settings(windowSeconds: 6, bucketMilliseconds: 200)),
                                          redis: redis, prefix: prefix)
        let nodes = [try await GatewayProcess(redisURL: url, prefix: prefix, name: "a"),
                     try await GatewayProcess(redisURL: url, prefix: prefix, name: "b")]
        let deadline = ContinuousClock.now + .seconds(10)
        let (allowed, limited) = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for worker in 0..<16 {
                group.addTask {
                    let node = nodes[worker % 2]
                    var (allowed, limited) = (0, 0)
                    var index = 0
                    while ContinuousClock.now < deadline {
                        index += 1
                        let id = "w\(worker)-\(index)"
                        let tokens = Int.random(in: 200...1_500)
                        let reply = try await node.post("/v1/reserve", #"{"request_id":"\#(id)","api_key":"k1","model":"test-model","input_tokens":\#(tokens),"max_output_tokens":0}"#)
                        if reply.status == .ok {
                            allowed += 1
                            // Commit exactly what was reserved, through the other node.
                            let commit = try await nodes[(worker + 1) % 2].post("/v1/commit",
                                #"{"request_id":"\#(id)","api_key":"k1","usage":{"input_tokens":\#(tokens),"output_tokens":0,"total_tokens":\#(tokens)}}"#)
                            #expect(commit.status == .ok)
                        } else {
                            #expect(reply.status == .tooManyRequests)
                            limited += 1
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                    return (allowed, limited)
                }
            }
            return try await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        }
        let entries = try await Self.ledger(redis, prefix: prefix)
        #expect(entries.count == allowed)
        #expect(limited > 50)
        // No 6-second interval admitted more than the limit, whichever node admitted it.
        let admissions = entries.map { ($0.reservedAt, $0.estimatedTokens) }.sorted { $0.0 < $1.0 }
        var peak: Int64 = 0
        var sum: Int64 = 0
        var start = 0
        for admission in admissions {
            sum += admission.1
            while admissions[start].0 < admission.0 - 6_000 {
                sum -= admissions[start].1
                start += 1
            }
            peak = max(peak, sum)
        }
        #expect(peak <= 30_000, "peak \(peak) tokens in one window")
        #expect(peak > 25_000, "the load reached the limit (peak \(peak))")
        for node in nodes { #expect(await node.terminate() == 0) }
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }

    @Test func aPriceChangeReachesBothNodesWithinASecond() async throws {
        let url = try await TestRedis.url()
        let redis = try await TestRedis.client()
        let prefix = uniquePrefix()
        var configuration = GatewayFixture.configuration()
        try await Self.writeConfiguration(configuration, redis: redis, prefix: prefix)
        let nodes = [try await GatewayProcess(redisURL: url, prefix: prefix, name: "a"),
                     try await GatewayProcess(redisURL: url, prefix: prefix, name: "b")]
        for node in nodes {
            let reply = try await node.post("/v1/reserve", #"{"request_id":"before-\#(node.port)","api_key":"k1","model":"test-model","input_tokens":1000,"max_output_tokens":0}"#)
            #expect(reply.json?["price_version"]?.stringValue == "test-model@1")
        }
        // New price, effective now: $3 per 1M input tokens.
        var entry = try #require(configuration.pricing.entry(named: "test-model"))
        entry.versions.append(PriceVersion(version: 2, effectiveFrom: 0, prices: try TokenPrices(input: "3.00", output: "2.00")))
        configuration.pricing.upsert(entry)
        let changed = ContinuousClock.now
        try await Self.writeConfiguration(configuration, redis: redis, prefix: prefix)
        var seen: [Duration] = []
        for node in nodes {
            var index = 0
            while true {
                index += 1
                let reply = try await node.post("/v1/reserve", #"{"request_id":"after-\#(node.port)-\#(index)","api_key":"k1","model":"test-model","input_tokens":1000,"max_output_tokens":0}"#)
                if reply.json?["price_version"]?.stringValue == "test-model@2" {
                    #expect(reply.json?["estimated_cost"]?.stringValue == "0.003")
                    seen.append(ContinuousClock.now - changed)
                    break
                }
                if ContinuousClock.now - changed > .seconds(3) + schedulingSlack { Issue.record("node \(node.port) kept the old price"); break }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(seen.count == 2)
        // Within a second, plus the scheduling slack of a loaded machine.
        #expect(seen.allSatisfy { $0 < .seconds(1) + schedulingSlack }, "seen after \(seen)")
        for node in nodes { #expect(await node.terminate() == 0) }
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }

    @Test func redisRestartUnderTrafficLosesNothing() async throws {
        let server = try await RedisServer.start(.init(appendOnly: true))
        let redis = server.client(timeout: .seconds(1))
        let prefix = uniquePrefix()
        try await Self.writeConfiguration(GatewayFixture.configuration(standard: Limits(tpm: 100_000_000)), redis: redis, prefix: prefix)
        let nodes = [try await GatewayProcess(redisURL: server.url, prefix: prefix, name: "a"),
                     try await GatewayProcess(redisURL: server.url, prefix: prefix, name: "b")]
        let stopAt = ContinuousClock.now + .seconds(1)
        let restartAt = stopAt + .seconds(2)
        let endAt = restartAt + .seconds(2)
        // Each record: 1,000 input tokens at $1/1M = $0.001. Every request id is unique.
        let outcomes = try await withThrowingTaskGroup(of: [(Int, Duration)].self) { group in
            for worker in 0..<6 {
                group.addTask {
                    var outcomes: [(Int, Duration)] = []
                    var index = 0
                    while ContinuousClock.now < endAt {
                        index += 1
                        let started = ContinuousClock.now
                        let reply = try await nodes[worker % 2].post("/v1/record",
                            #"{"request_id":"rec-\#(worker)-\#(index)","api_key":"k1","model":"test-model","usage":{"input_tokens":1000,"output_tokens":0,"total_tokens":1000}}"#)
                        outcomes.append((Int(reply.status.code), ContinuousClock.now - started))
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    return outcomes
                }
            }
            group.addTask {
                try await Task.sleep(until: stopAt)
                await server.stop()
                try await Task.sleep(until: restartAt)
                try await server.restart()
                return []
            }
            return try await group.reduce(into: [(Int, Duration)]()) { $0 += $1 }
        }
        let accepted = outcomes.filter { $0.0 == 200 || $0.0 == 202 }
        #expect(accepted.count == outcomes.count, "statuses: \(Set(outcomes.map(\.0)))")
        #expect(outcomes.contains { $0.0 == 202 }, "some records went to the spool")
        // Answered within the gateways' 300 ms Redis timeout (then spooled), plus scheduling slack.
        #expect(outcomes.allSatisfy { $0.1 < .milliseconds(300) + schedulingSlack }, "slowest \(outcomes.map(\.1).max() ?? .zero)")

        // Both spools drain; then the ledger holds every record exactly once.
        var entries: [LedgerEntry] = []
        for _ in 0..<100 {
            entries = (try? await Self.ledger(redis, prefix: prefix)) ?? []
            if entries.count >= outcomes.count { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(entries.count == outcomes.count)
        #expect(Set(entries.map(\.requestID)).count == entries.count)
        let quota = try await nodes[0].get("/v1/quota/k1")
        guard case .array(let levels) = quota.json?["levels"] else { Issue.record("no quota"); return }
        let spent = levels.first { $0["scope"]?.stringValue == "organization" }?["daily_budget"]?["spent"]?.stringValue
        #expect(spent == Money(nanos: Int64(outcomes.count) * 1_000_000).decimalString)
        for node in nodes { #expect(await node.terminate() == 0) }
        await redis.shutdown()
        await server.stop()
    }

    @Test func gracefulShutdownFailsReadinessFirstAndFinishesInFlightRequests() async throws {
        let url = try await TestRedis.url()
        let redis = try await TestRedis.client()
        let prefix = uniquePrefix()
        try await Self.writeConfiguration(GatewayFixture.configuration(standard: Limits(tpm: 100_000_000)), redis: redis, prefix: prefix)
        let node = try await GatewayProcess(redisURL: url, prefix: prefix, name: "a")
        #expect(try await node.get("/readyz").status == .ok)
        // Requests in flight when SIGTERM arrives, and more during the drain, all complete.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<40 {
                group.addTask {
                    if index == 10 { node.process.signal(SIGTERM) }
                    let reply = try await node.post("/v1/record",
                        #"{"request_id":"g\#(index)","api_key":"k1","model":"test-model","usage":{"input_tokens":10,"output_tokens":0,"total_tokens":10}}"#)
                    return Int(reply.status.code)
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 200 })
        // During the drain the node still answers, but says it is not ready.
        let readiness = try await node.get("/readyz")
        #expect(readiness.status == .serviceUnavailable)
        #expect(readiness.json?["shutting_down"]?.stringValue == "true")
        #expect(try await node.post("/v1/record", #"{"request_id":"late","api_key":"k1","model":"test-model","usage":{"input_tokens":1,"output_tokens":0,"total_tokens":1}}"#).status == .ok)
        #expect(await node.process.wait(timeout: .seconds(20)) == 0)
        #expect(try await Self.ledger(redis, prefix: prefix).count == 41)
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }
}
