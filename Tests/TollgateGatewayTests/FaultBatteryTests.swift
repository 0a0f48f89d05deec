import Foundation
import NIOHTTP1
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// Real Redis faults against a running gateway (issue 11). Each drill asserts what callers
/// get during the fault, that the gateway is back to real decisions within 2 s after it
/// ends, and that the ledger equals the counters with nothing acknowledged lost. Each prints
/// a `fault-matrix` line; Docs/operations.md's fault matrix is written from them.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp, .serialized)
struct FaultBatteryTests {
    @Test func stallAndResume() async throws {
        try await FaultDrill.run { drill in
            let traffic = try await drill.traffic {
                try await Task.sleep(for: .milliseconds(300))
                drill.server.pause()
                try await Task.sleep(for: .milliseconds(1_500))
                drill.server.resume()
                return .now
            }
            #expect(traffic.count(.reserveOpen) { $0.degraded } > 0, "the fail-open tier admitted unchecked during the stall")
            try await drill.expectFaultHandled("stall 1.5 s (SIGSTOP, SIGCONT)", traffic)
        }
    }

    @Test func stallOfOneClusterPrimary() async throws {
        try await FaultDrill.runOnCluster { drill in
            let traffic = try await drill.traffic {
                try await Task.sleep(for: .milliseconds(300))
                drill.server.pause()
                try await Task.sleep(for: .milliseconds(1_500))
                drill.server.resume()
                return .now
            }
            try await drill.expectFaultHandled("Cluster: stall 1.5 s of the primary holding k1's keys", traffic)
        }
    }

    @Test func restart() async throws {
        try await FaultDrill.run { drill in
            let traffic = try await drill.traffic {
                try await Task.sleep(for: .milliseconds(300))
                await drill.server.stop()
                try await Task.sleep(for: .milliseconds(1_000))
                try await drill.server.restart()
                return .now
            }
            try await drill.expectFaultHandled("restart (down 1 s, AOF always)", traffic)
        }
    }

    @Test func restartWithALargeAOFAnswersLoadingUntilLoaded() async throws {
        // 8,000 keys replayed at 100 µs each (`key-load-delay`) stand in for a large AOF: a
        // couple of seconds of LOADING, without writing hundreds of megabytes in a test.
        try await FaultDrill.run(.init(appendOnly: true, extraArguments: ["--key-load-delay", "100"])) { drill in
            // The filler is written without fsync per command (it only has to be replayed).
            _ = try await drill.admin.send("CONFIG", "SET", "appendfsync", "no")
            for chunk in stride(from: 0, to: 8_000, by: 1_000) {
                let sets = (chunk..<chunk + 1_000).map { RedisCommand.keyed("SET", "\(drill.prefix):filler:\($0)", "x") }
                for result in await drill.admin.pipeline(sets) { _ = try result.get() }
            }
            _ = try await drill.admin.send("CONFIG", "SET", "appendfsync", "always")
            let traffic = try await drill.traffic {
                try await Task.sleep(for: .milliseconds(300))
                await drill.server.stop()
                try await drill.server.restart(untilLoaded: false)
                // Loaded once PING answers PONG; bounded.
                for _ in 0..<400 {
                    if (try? await drill.admin.send("PING"))?.string == "PONG" { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return .now
            }
            let log = drill.server.logTail()
            let loaded = log.split(separator: "\n").last { $0.contains("DB loaded from append only file") }
            let seconds = loaded.flatMap { Double($0.split(separator: " ").dropLast().last ?? "") } ?? 0
            #expect(seconds >= 1, "Redis was LOADING for \(seconds) s; log: \(log.suffix(300))")
            try await drill.expectFaultHandled("restart with a large AOF (LOADING \(seconds) s)", traffic)
        }
    }

    /// The bug of issue 11: a stall opened the breaker, the half-open probe met `OOM`, and the
    /// breaker stayed half-open for good although Redis was healthy again.
    @Test func maxmemoryReachedThenRelievedWithTheProbeMeetingOOM() async throws {
        try await FaultDrill.run { drill in
            try await drill.refusalAcrossAStall("maxmemory reached (OOM, with a stall: probe meets OOM), then relieved",
                inject: { _ = try await drill.admin.send("CONFIG", "SET", "maxmemory", "1") },
                relieve: { _ = try await drill.admin.send("CONFIG", "SET", "maxmemory", "0") })
        }
    }

    /// The same bug with `NOPERM`: the gateway's ACL user loses `FCALL` (the engine's calls)
    /// and `EVALSHA` at runtime.
    @Test func aclPermissionLostThenRestoredWithTheProbeMeetingNOPERM() async throws {
        try await FaultDrill.run(redisURL: { server in
            let admin = server.client()
            _ = try await admin.send("ACL", "SETUSER", "tollgate", "on", ">drill-secret", "~*", "&*", "+@all")
            await admin.shutdown()
            return "redis://tollgate:drill-secret@127.0.0.1:\(server.port)"
        }) { drill in
            try await drill.refusalAcrossAStall("ACL user loses FCALL and EVALSHA (NOPERM, with a stall: probe meets NOPERM), then gets them back",
                inject: { _ = try await drill.admin.send("ACL", "SETUSER", "tollgate", "-fcall", "-evalsha", "-eval") },
                relieve: { _ = try await drill.admin.send("ACL", "SETUSER", "tollgate", "+fcall", "+evalsha", "+eval") })
        }
    }

    @Test func scriptFlushUnderTrafficChangesNoDecision() async throws {
        try await FaultDrill.run { drill in
            let traffic = try await drill.traffic(settle: .milliseconds(500)) {
                for _ in 0..<5 {
                    try await Task.sleep(for: .milliseconds(200))
                    _ = try await drill.admin.send("SCRIPT", "FLUSH")
                    _ = try await drill.admin.send("FUNCTION", "FLUSH")
                }
                return .now
            }
            drill.expectFailureModes(traffic)
            let allReal = traffic.calls.filter { $0.kind != .commit }.allSatisfy { $0.isRealDecision }
            #expect(allReal, "statuses \(traffic.statuses)")
            #expect(traffic.count(.commit) { $0.status != 200 } == 0, "statuses \(traffic.statuses)")
            let lost = try await drill.expectLedgerMatchesCounters(traffic)
            drill.report("SCRIPT FLUSH and FUNCTION FLUSH ×5 under traffic", traffic, recovery: .zero, lost: lost)
        }
    }

    @Test func aSlowScriptMakesRedisBusy() async throws {
        try await FaultDrill.run { drill in
            _ = try await drill.admin.send("CONFIG", "SET", "busy-reply-threshold", "100")
            let slow = drill.server.client(connections: 1, timeout: .seconds(10))
            let traffic = try await drill.traffic {
                try await Task.sleep(for: .milliseconds(300))
                // A read-only script spinning for 1.5 s; after 100 ms every other client gets BUSY.
                _ = try await slow.send("EVAL", """
                    local start = redis.call('TIME')
                    while true do
                      local now = redis.call('TIME')
                      if (now[1] - start[1]) * 1000000 + (now[2] - start[2]) >= 1500000 then return 1 end
                    end
                    """, 0)
                return .now
            }
            await slow.shutdown()
            try await drill.expectFaultHandled("slow script 1.5 s (BUSY)", traffic)
        }
    }

    @Test func aGatewayStartedBeforeRedisExistsServesOnceItAppears() async throws {
        let port = try RedisServer.freeLoopbackPort()
        let prefix = uniquePrefix()
        let gateway = try await GatewayProcess(redisURL: "redis://127.0.0.1:\(port)", prefix: prefix, name: "early",
                                               extra: ["--breaker-cooldown-ms", "200"], waitUntilReady: false)
        var server: RedisServer?
        do {
            let readiness = try await gateway.get("/readyz")
            #expect(readiness.status == .serviceUnavailable)
            #expect(readiness.json?["configuration_version"]?.stringValue == "none")
            // Without a configuration no tier is known: everything is refused, nothing acknowledged.
            let started = ContinuousClock.now
            let reserve = try await gateway.post("/v1/reserve", #"{"request_id":"early-1","api_key":"k1","model":"test-model","input_tokens":100}"#)
            let commit = try await gateway.post("/v1/commit", #"{"request_id":"early-1","api_key":"k1","model":"test-model","usage":{"input_tokens":100,"output_tokens":0}}"#)
            let twoCalls = ContinuousClock.now - started
            #expect(twoCalls <= FaultDrill.callBound * 2)
            #expect(reserve.status == .serviceUnavailable && reserve.json?["error"]?["code"]?.stringValue == "not_ready")
            #expect(commit.status == .serviceUnavailable && commit.json?["error"]?["code"]?.stringValue == "not_ready")

            try await Task.sleep(for: .seconds(1))
            let redis = try await RedisServer.start(.init(appendOnly: true), port: port)
            server = redis
            let admin = redis.client()
            try await MultiNodeTests.writeConfiguration(GatewayFixture.configuration(standard: Limits(tpm: 100_000_000)), redis: admin, prefix: prefix)
            let appeared = ContinuousClock.now
            var recovery: Duration?
            for index in 0..<200 {
                let reply = try await gateway.post("/v1/reserve", #"{"request_id":"late-\#(index)","api_key":"k1","model":"test-model","input_tokens":100}"#)
                if reply.status == .ok {
                    recovery = ContinuousClock.now - appeared
                    let commit = try await gateway.post("/v1/commit", #"{"request_id":"late-\#(index)","api_key":"k1","usage":{"input_tokens":100,"output_tokens":0}}"#)
                    #expect(commit.status == .ok)
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(recovery != nil && recovery! <= FaultDrill.recoveryGoal + schedulingSlack, "real decisions after \(String(describing: recovery))")
            // Ready once its customer feed has started too (on its next poll after Redis appeared),
            // which may come just after the first decision a cache miss answered from Redis.
            var ready = false
            let readyBy = appeared + FaultDrill.recoveryGoal + schedulingSlack
            while !ready && ContinuousClock.now < readyBy {
                ready = try await gateway.get("/readyz").status == .ok
                if !ready { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(ready, "/readyz not ok \(FaultDrill.recoveryGoal + schedulingSlack) after Redis appeared")
            let entries = try await MultiNodeTests.ledger(admin, prefix: prefix)
            #expect(entries.map(\.requestID).count == 1 && entries.allSatisfy { $0.requestID.hasPrefix("late-") })
            print("fault-matrix | gateway started 1 s before Redis | 503 not_ready for everything (no configuration, nothing acknowledged) | two calls \(twoCalls) | recovery \(recovery.map { "\($0)" } ?? "never") after the configuration was written | lost 0")
            try await admin.deleteKeys(prefix: prefix + ":")
            await admin.shutdown()
        } catch {
            _ = await gateway.terminate()
            await server?.stop()
            throw error
        }
        #expect(await gateway.terminate() == 0)
        await server?.stop()
    }

    @Test func anUnresolvableHostFailsFastAndNeverHangs() async throws {
        let gateway = try await GatewayProcess(redisURL: "redis://tollgate-no-such-host.invalid:6379", prefix: uniquePrefix(), name: "lost",
                                               waitUntilReady: false)
        do {
            var slowest = Duration.zero
            for _ in 0..<3 {
                let started = ContinuousClock.now
                let readiness = try await gateway.get("/readyz")
                let reserve = try await gateway.post("/v1/reserve", #"{"request_id":"r","api_key":"k1","model":"test-model","input_tokens":100}"#)
                slowest = max(slowest, ContinuousClock.now - started)
                #expect(ContinuousClock.now - started <= FaultDrill.callBound * 2)
                #expect(readiness.status == .serviceUnavailable)
                #expect(reserve.status == .serviceUnavailable)
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(try await gateway.get("/healthz").status == .ok, "the process is alive")
            print("fault-matrix | unresolvable Redis host | readyz 503, every call 503 not_ready | readyz + reserve \(slowest) | no recovery possible | lost 0")
        } catch {
            _ = await gateway.terminate()
            throw error
        }
        #expect(await gateway.terminate() == 0)
    }
}
