import Foundation
import NIOHTTP1
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// Gateways resolve customers through a bounded cache that the change stream keeps current:
/// changes reach two live gateway processes within a second, a gateway cut off from Redis
/// catches up (or drops its cache when the changes it missed were trimmed), and unknown keys
/// are answered from memory.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp, .serialized)
struct CustomerCacheTests {
    /// How long "within a second" may take on a loaded CI machine: the promise plus scheduling.
    static let visibleWithin: Duration = .seconds(1) + schedulingSlack

    static func reserve(_ node: GatewayProcess, key: String, id: String) async throws -> Int {
        let body = #"{"request_id":"\#(id)","api_key":"\#(key)","model":"test-model","input_tokens":10,"max_output_tokens":0}"#
        return Int(try await node.post("/v1/reserve", body).status.code)
    }

    /// Polls `node` until `status` comes back; how long it took, or nil after `limit`.
    static func until(_ status: Int, on node: GatewayProcess, key: String, since start: ContinuousClock.Instant,
                      limit: Duration = .seconds(5)) async throws -> Duration? {
        var index = 0
        while ContinuousClock.now - start < limit {
            index += 1
            let code = try await reserve(node, key: key, id: "p\(node.port)-\(UInt32.random(in: 0...UInt32.max))-\(index)")
            if code == status { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    static func setUp(_ name: String = #function) async throws -> (url: String, prefix: String, redis: any RedisExecutor, store: CustomerStore) {
        let url = try await TestRedis.url()
        let redis = try await TestRedis.client()
        let prefix = uniquePrefix(name)
        try await MultiNodeTests.writeConfiguration(GatewayFixture.configuration(), redis: redis, prefix: prefix)
        return (url, prefix, redis, try await CustomerStore.open(redis: redis, keys: KeyLayout(prefix: prefix)))
    }

    @Test func aNewKeyAndASuspensionReachTwoGatewaysWithinASecond() async throws {
        let (url, prefix, redis, store) = try await Self.setUp()
        let nodes = [try await GatewayProcess(redisURL: url, prefix: prefix, name: "a"), try await GatewayProcess(redisURL: url, prefix: prefix, name: "b")]
        // Both learn that "fresh" does not exist (a negative entry each), and cache k1.
        for node in nodes {
            #expect(try await Self.reserve(node, key: "fresh", id: "miss-\(node.port)") == 404)
            #expect(try await Self.reserve(node, key: "k1", id: "warm-\(node.port)") == 200)
        }

        var start = ContinuousClock.now
        try await store.createKey(APIKey(id: "fresh", workspace: "web"), actor: "test")
        for node in nodes {
            let seen = try await Self.until(200, on: node, key: "fresh", since: start)
            #expect(seen != nil && seen! < Self.visibleWithin, "node \(node.port) saw the new key after \(String(describing: seen))")
        }

        start = ContinuousClock.now
        try await store.setSuspended(true, .key, "k1", actor: "test", reason: "abuse")
        for node in nodes {
            let seen = try await Self.until(403, on: node, key: "k1", since: start)
            #expect(seen != nil && seen! < Self.visibleWithin, "node \(node.port) enforced the suspension after \(String(describing: seen))")
        }
        // A suspended organisation reaches keys cached under it too.
        start = ContinuousClock.now
        try await store.setSuspended(true, .organization, "globex", actor: "test")
        for node in nodes {
            let seen = try await Self.until(403, on: node, key: "g1", since: start)
            #expect(seen != nil && seen! < Self.visibleWithin, "node \(node.port) enforced the organization's suspension after \(String(describing: seen))")
        }
        for node in nodes { #expect(await node.terminate() == 0) }
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }

    @Test func aRevokedTokenIsRefusedByTwoGatewaysWithinASecond() async throws {
        let (url, prefix, redis, store) = try await Self.setUp()
        let nodes = [try await GatewayProcess(redisURL: url, prefix: prefix, name: "a"), try await GatewayProcess(redisURL: url, prefix: prefix, name: "b")]
        for node in nodes { #expect(try await Self.reserve(node, key: "k1", id: "warm-\(node.port)") == 200) }
        let start = ContinuousClock.now
        try await store.updateToken("all", actor: "test", reason: "leaked") { $0.revoked = true }
        for node in nodes {
            let seen = try await Self.until(401, on: node, key: "k1", since: start)
            #expect(seen != nil && seen! < Self.visibleWithin, "node \(node.port) refused the revoked token after \(String(describing: seen))")
        }
        for node in nodes { #expect(await node.terminate() == 0) }
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }

    /// A store too large to load whole: the feed preloads the keys of the organisations the
    /// monitor saw active most recently (its per-partition sets), newest first, up to the
    /// limit, and nothing else — so an outage right after start spares the active customers.
    @Test func aLargeStorePreloadsTheMostRecentlyActiveOrganizationsKeys() async throws {
        let (_, prefix, redis, store) = try await Self.setUp()
        try await store.put(organizations: (1...30).map { Organization(id: "o\($0)", tier: "standard") },
                            workspaces: (1...30).map { Workspace(id: "w\($0)", organization: "o\($0)") },
                            keys: (1...30).map { APIKey(id: "k\($0)", workspace: "w\($0)") } + [APIKey(id: "k3b", workspace: "w3")])
        // As the monitor records them: o3 most recently (two keys), then o7, then o12; partitions differ.
        let layout = KeyLayout(prefix: prefix, partitions: 16)
        for (organization, at) in [("o12", 1_000), ("o7", 2_000), ("o3", 3_000)] {
            _ = try await redis.send("ZADD", layout.activeOrganizations(partition: layout.partition(of: organization)), at, organization)
        }
        let subscriber = try await TestRedis.configuration()
        func preloaded(limit: Int) async -> Set<String> {
            let feed = CustomerChangeFeed(store: store, cache: CustomerCache(capacity: 100), subscriberConfiguration: subscriber,
                                          pollInterval: .seconds(60), preloadLimit: limit, partitions: { 16 }, logger: .quiet)
            await feed.poll()
            return Set((1...30).map { "k\($0)" } + ["k3b"]).filter { if case .found = feed.cache.key($0) { true } else { false } }
        }
        #expect(await preloaded(limit: 3) == ["k3", "k3b", "k7"])
        #expect(await preloaded(limit: 10) == ["k3", "k3b", "k7", "k12"])
        #expect(await preloaded(limit: 2) == ["k3", "k3b"])
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }

    /// The gateway is frozen (SIGSTOP) and its Redis connections are killed; meanwhile more
    /// changes land than the stream keeps, among them k1's suspension. Resumed, it must notice
    /// the gap, drop its cache and refuse k1 — not serve its stale entry.
    @Test func aGatewayCutOffPastTheStreamsLengthDropsItsCache() async throws {
        let (url, prefix, redis, _) = try await Self.setUp()
        let store = CustomerStore(redis: redis, keys: KeyLayout(prefix: prefix), changeStreamLength: 100)
        let node = try await GatewayProcess(redisURL: url, prefix: prefix, name: "cut")
        #expect(try await Self.reserve(node, key: "k1", id: "warm") == 200)

        node.process.signal(SIGSTOP)
        let killed = try await Self.killConnections(redis, named: "tollgate-gateway-cut")
        #expect(killed > 0)
        try await store.setSuspended(true, .key, "k1", actor: "test")
        // 300 more changes: the stream (about 100 long) no longer holds the suspension's entry.
        for index in 0..<150 {
            try await store.createKey(APIKey(id: "filler\(index)", workspace: "web"), actor: "test")
            try await store.deleteKey("filler\(index)", actor: "test")
        }
        let first = try #require(try await redis.send(.keyed("XRANGE", store.keys.customerChanges, "-", "+", "COUNT", 1)).array?.first?.array?[1].array)
        #expect(first.count >= 2 && first[1].string.flatMap { Int($0) }.map { $0 > 2 } == true, "the stream was not trimmed")
        let start = ContinuousClock.now
        node.process.signal(SIGCONT)
        let seen = try await Self.until(403, on: node, key: "k1", since: start)
        #expect(seen != nil && seen! < Self.visibleWithin + .seconds(1), "the resumed gateway served k1 for \(String(describing: seen))")
        #expect(await node.terminate() == 0)
        #expect(node.process.output.contains("customer cache dropped"))
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }

    /// A short cut (the gateway's connections killed, a change meanwhile): it catches up from
    /// the stream, where pub/sub alone would have lost the notice.
    @Test func aGatewayWhoseConnectionsWereKilledCatchesUp() async throws {
        let (url, prefix, redis, store) = try await Self.setUp()
        let node = try await GatewayProcess(redisURL: url, prefix: prefix, name: "kill")
        #expect(try await Self.reserve(node, key: "k1", id: "warm") == 200)
        // It answers from its cache: with k1's record gone behind its back (no change entry), k1 still works.
        let record = store.keys.customerRecord(.key, "k1")
        let saved = try #require(try await redis.send(.keyed("GET", record)).bytes)
        _ = try await redis.send(.keyed("DEL", record))
        #expect(try await Self.reserve(node, key: "k1", id: "cached") == 200)
        _ = try await redis.send(.keyed("SET", record, saved))
        node.process.signal(SIGSTOP)
        #expect(try await Self.killConnections(redis, named: "tollgate-gateway-kill") > 0)
        try await store.setSuspended(true, .key, "k1", actor: "test")
        let start = ContinuousClock.now
        node.process.signal(SIGCONT)
        let seen = try await Self.until(403, on: node, key: "k1", since: start)
        #expect(seen != nil && seen! < Self.visibleWithin + .seconds(1), "the resumed gateway served k1 for \(String(describing: seen))")
        #expect(await node.terminate() == 0)
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }

    /// Kills every client connection whose name starts with `name` (CLIENT LIST / CLIENT KILL ID).
    static func killConnections(_ redis: any RedisExecutor, named name: String) async throws -> Int {
        var killed = 0
        for node in await redis.nodes() {
            let list = try await node.send("CLIENT", "LIST").string ?? ""
            for line in list.split(separator: "\n") {
                let fields = Dictionary(line.split(separator: " ").compactMap { part -> (String, String)? in
                    guard let equals = part.firstIndex(of: "=") else { return nil }
                    return (String(part[..<equals]), String(part[part.index(after: equals)...]))
                }, uniquingKeysWith: { $1 })
                guard fields["name"]?.hasPrefix(name) == true, let id = fields["id"] else { continue }
                killed += Int(try await node.send("CLIENT", "KILL", "ID", id).int ?? 0)
            }
        }
        return killed
    }
}
