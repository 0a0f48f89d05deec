import Foundation
import RedisTestSupport
import Synchronization
import Testing
@testable import TollgateCore
import TollgateRedis

/// The engine on a real local Redis Cluster while the cluster changes under it.
@Suite(.enabled(if: clusterTestsEnabled, "redis-server is not installed, or the suite runs in cluster mode"), .cleansUp, .serialized)
struct ClusterTests {
    struct Deployment {
        let client: RedisClusterClient
        let engine: QuotaEngine
        let configuration: TollgateConfiguration
        let keys: KeyLayout

        init(_ cluster: RedisCluster, prefix: String, timeout: Duration) throws {
            client = cluster.client(connections: 2, timeout: timeout)
            keys = KeyLayout(prefix: prefix, partitions: 16)
            engine = QuotaEngine(redis: client, keys: keys, scripts: try QuotaScripts.load())
            configuration = try EngineFixtureConfiguration.basic()
        }

        var plan: RequestPlan { try! configuration.plan(apiKey: "k1", at: Int64(Date().timeIntervalSince1970 * 1000)) }
        var price: ResolvedPrice { try! configuration.price("test-model", for: plan, at: Int64(Date().timeIntervalSince1970 * 1000)) }

        /// Reserve, then commit until the commit is answered (commits are idempotent).
        func reserveAndCommit(_ id: String, tokens: Int64) async -> Bool {
            guard let decision = try? await engine.reserve(ReserveRequest(requestID: id, model: "test-model", inputTokens: tokens, maxOutputTokens: 0),
                                                           plan: plan, price: price, settings: configuration.settings),
                  case .allowed = decision else { return false }
            for _ in 0..<100 {
                if (try? await engine.settle(SettleRequest(kind: .commit, requestID: id, usage: TokenUsage(input: tokens)), plan: plan, settings: configuration.settings)) != nil {
                    return true
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return false
        }

        func ledger() async throws -> [LedgerEntry] {
            let reply = try await client.send(.keyed("XRANGE", keys.ledger(organization: "acme"), "-", "+"))
            return (reply.array ?? []).compactMap { entry in
                guard let parts = entry.array, let id = parts[0].string, let fields = parts[1].array, fields.count == 2,
                      let line = fields[1].string else { return nil }
                return LedgerEntry(id: id, line: line)
            }
        }

        func organizationUsage() async throws -> LevelUsage {
            try await engine.quota(plan: plan, settings: configuration.settings).levels.first { $0.level.scope == .organization }!
        }
    }

    @Test(.timeLimit(.minutes(2))) func aSlotMigratedLiveLosesAndDoubleCountsNothing() async throws {
        let cluster = try await RedisCluster.start(primaries: 3, replicas: 0)
        let deployment = try Deployment(cluster, prefix: uniquePrefix(), timeout: .seconds(3))
        let slot = HashSlot(key: deployment.keys.state(organization: "acme"))
        let topology = try #require(await deployment.client.topology())
        let source = try #require(topology.owner(of: slot))
        let target = try #require(topology.primaries.first { $0.port != source.port })
        let nodes = Dictionary(uniqueKeysWithValues: cluster.nodes.prefix(3).map { ($0.port, $0.client(connections: 1)) })
        let sourceNode = try #require(nodes[source.port]), targetNode = try #require(nodes[target.port])
        let sourceID = try await sourceNode.send("CLUSTER", "MYID").string ?? ""
        let targetID = try await targetNode.send("CLUSTER", "MYID").string ?? ""

        let committed = Locked<[String: Int64]>([:])
        let deadline = ContinuousClock.now + .seconds(5)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var index = 0
                    while ContinuousClock.now < deadline {
                        index += 1
                        let id = "m\(worker)-\(index)"
                        let tokens = Int64(100 + index % 50)
                        if await deployment.reserveAndCommit(id, tokens: tokens) { committed.withLock { $0[id] = tokens } }
                    }
                }
            }
            group.addTask {
                // Halfway through, the slot moves: IMPORTING, MIGRATING, MIGRATE the keys, then NODE everywhere.
                try await Task.sleep(for: .seconds(1))
                _ = try await targetNode.send("CLUSTER", "SETSLOT", Int(slot.rawValue), "IMPORTING", sourceID)
                _ = try await sourceNode.send("CLUSTER", "SETSLOT", Int(slot.rawValue), "MIGRATING", targetID)
                while true {
                    let keys = try await sourceNode.send("CLUSTER", "GETKEYSINSLOT", Int(slot.rawValue), 50).array?.compactMap(\.bytes) ?? []
                    if keys.isEmpty { break }
                    _ = try await sourceNode.send(RedisCommand("MIGRATE", ["127.0.0.1", target.port, "", 0, 5_000, "KEYS"] + keys.map { $0 as any RedisArgument }))
                    try await Task.sleep(for: .milliseconds(20))
                }
                for node in nodes.values { _ = try await node.send("CLUSTER", "SETSLOT", Int(slot.rawValue), "NODE", targetID) }
            }
            try await group.waitForAll()
        }
        #expect(await deployment.client.refreshTopology()?.owner(of: slot)?.port == target.port)
        let admitted = committed.withLock { $0 }
        let entries = try await deployment.ledger()
        #expect(admitted.count > 100)
        #expect(entries.count == admitted.count, "ledger \(entries.count), committed \(admitted.count)")
        #expect(Set(entries.map(\.requestID)) == Set(admitted.keys))
        let usage = try await deployment.organizationUsage()
        #expect(usage.daySpent.nanos == entries.reduce(0) { $0 + $1.costNanos })
        #expect(usage.dayHeld.nanos == 0)
        for node in nodes.values { await node.shutdown() }
        await deployment.client.shutdown()
        await cluster.stop()
    }

    @Test(.timeLimit(.minutes(2))) func aPrimaryKilledUnderTrafficFailsOverToItsReplica() async throws {
        let cluster = try await RedisCluster.start(primaries: 3, replicas: 1, nodeTimeoutMilliseconds: 1_000)
        let timeout = Duration.milliseconds(500)
        let deployment = try Deployment(cluster, prefix: uniquePrefix(), timeout: timeout)
        let slot = HashSlot(key: deployment.keys.state(organization: "acme"))
        let primary = try #require(await deployment.client.topology()?.owner(of: slot))
        let victim = try #require(cluster.nodes.first { $0.port == primary.port })

        let calls = Locked<[TimedCall]>([])
        let killedAt = Locked<ContinuousClock.Instant?>(nil)
        let deadline = ContinuousClock.now + .seconds(9)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var index = 0
                    while ContinuousClock.now < deadline {
                        index += 1
                        let id = "f\(worker)-\(index)"
                        let started = ContinuousClock.now
                        let ok = (try? await deployment.engine.settle(
                            SettleRequest(kind: .record, requestID: id, usage: TokenUsage(input: 100), price: deployment.price),
                            plan: deployment.plan, settings: deployment.configuration.settings)) != nil
                        calls.withLock { $0.append(TimedCall(id: id, started: started, took: ContinuousClock.now - started, ok: ok)) }
                        if !ok { try? await Task.sleep(for: .milliseconds(20)) }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(2))
                killedAt.withLock { $0 = .now }
                await victim.crash()
            }
            try await group.waitForAll()
        }
        let all = calls.withLock { $0 }
        let kill = try #require(killedAt.withLock { $0 })
        // Every call was answered within its timeout (plus scheduling slack), failover or not.
        let slowest = all.map(\.took).max() ?? .zero
        #expect(slowest < timeout + schedulingSlack, "slowest call \(slowest)")
        // The replica took over and writes succeed again.
        let firstAfter = all.filter { $0.ok && $0.started > kill }.map(\.started).min()
        let recovered = try #require(firstAfter, "no write succeeded after the kill")
        let unavailable = recovered - kill
        #expect(unavailable < .seconds(6))
        #expect(await deployment.client.topology()?.owner(of: slot)?.port != victim.port)
        // Asynchronous replication: writes acknowledged just before the kill may be lost. Measure.
        let entries = Set(try await deployment.ledger().map(\.requestID))
        let acknowledged = all.filter(\.ok)
        let lost = acknowledged.filter { !entries.contains($0.id) }
        let lostWindow = lost.map { kill - $0.started }.max() ?? .zero
        #expect(acknowledged.filter { $0.started > recovered }.allSatisfy { entries.contains($0.id) })
        #expect(lostWindow < .seconds(2))
        print("failover: unavailable for \(unavailable), \(lost.count) of \(acknowledged.count) acknowledged writes lost (the oldest \(lostWindow) before the kill), slowest call \(slowest)")
        await deployment.client.shutdown()
        await cluster.stop()
    }
}

/// These tests start their own clusters: once per run, not again in cluster mode.
let clusterTestsEnabled = RedisServer.isAvailable && !TestRedis.clusterMode

/// A value shared by concurrent test tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}

struct TimedCall: Sendable {
    var id: String
    var started: ContinuousClock.Instant
    var took: Duration
    var ok: Bool
}
