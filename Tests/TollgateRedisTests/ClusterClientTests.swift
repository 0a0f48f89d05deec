import Foundation
import RedisTestSupport
import Testing
@testable import TollgateRedis

@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct ClusterClientTests {
    @Test func routesByHashSlotAndFollowsMoved() async throws {
        let cluster = try await RedisCluster.start(primaries: 3, replicas: 0)
        let client = cluster.client()
        let topology = try #require(await client.topology())
        #expect(topology.primaries.count == 3)
        #expect(topology.coveredSlots == HashSlot.count)
        for index in 0..<200 {
            _ = try await client.send(.keyed("SET", "key:\(index)", "v\(index)"))
        }
        for index in 0..<200 {
            #expect(try await client.send(.keyed("GET", "key:\(index)")).string == "v\(index)")
        }
        // Commands built without a known key are answered too, after a MOVED.
        #expect(try await client.send("GET", "key:7").string == "v7")
        let results = await client.pipeline((0..<50).map { RedisCommand.keyed("INCR", "counter:\($0 % 7)") })
        #expect(results.allSatisfy { (try? $0.get().int) != nil })
        let script = RedisScript(name: "two", source: "return redis.call('GET', KEYS[1]) .. redis.call('GET', KEYS[2])")
        _ = try await client.send(.keyed("SET", "{tag}:a", "x"))
        _ = try await client.send(.keyed("SET", "{tag}:b", "y"))
        #expect(try await client.run(script, keys: ["{tag}:a", "{tag}:b"]).string == "xy")
        do {
            _ = try await client.run(script, keys: ["{one}:a", "{two}:b"])
            Issue.record("cross-slot keys were sent")
        } catch {
            #expect(error.prefix == "CROSSSLOT")
            #expect(error.delivery == .notSent)
        }
        await client.shutdown()
        await cluster.stop()
    }

    /// A one-node cluster never learns its own address: CLUSTER SHARDS and SLOTS name it with
    /// an empty host, and the client must use the host it asked.
    @Test func oneNodeClusterWithUnknownOwnAddress() async throws {
        let cluster = try await RedisCluster.start(primaries: 1, replicas: 0)
        let client = cluster.client()
        let topology = try #require(await client.topology())
        #expect(topology.primaries.map(\.host) == ["127.0.0.1"])
        #expect(topology.coveredSlots == HashSlot.count)
        _ = try await client.send(.keyed("SET", "solo", "1"))
        #expect(try await client.send(.keyed("INCR", "solo")).int == 2)
        await client.shutdown()
        await cluster.stop()
    }
}
