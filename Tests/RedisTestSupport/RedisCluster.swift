import Foundation
import Logging
import TollgateRedis

/// A local Redis Cluster for tests: `primaries` primaries (each with `replicas` replicas),
/// every node a ``RedisServer`` on a free loopback port, slots split evenly.
public final class RedisCluster: Sendable {
    public let nodes: [RedisServer]
    public let primaryCount: Int

    public static func start(primaries: Int = 3, replicas: Int = 1, nodeTimeoutMilliseconds: Int = 2_000) async throws -> RedisCluster {
        let total = primaries * (1 + replicas)
        var nodes: [RedisServer] = []
        for _ in 0..<total {
            nodes.append(try await RedisServer.start(.init(appendOnly: true, clusterEnabled: true,
                                                           extraArguments: ["--cluster-node-timeout", String(nodeTimeoutMilliseconds),
                                                                            "--cluster-replica-validity-factor", "0"])))
        }
        let cluster = RedisCluster(nodes: nodes, primaryCount: primaries)
        try await cluster.form(replicas: replicas)
        return cluster
    }

    private init(nodes: [RedisServer], primaryCount: Int) {
        self.nodes = nodes
        self.primaryCount = primaryCount
    }

    /// `redis+cluster://` with every primary as a seed.
    public var url: String {
        "redis+cluster://" + nodes.prefix(primaryCount).map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
    }

    public func client(connections: Int = 2, timeout: Duration = .seconds(2)) -> RedisClusterClient {
        let target = try! RedisConnector.parse(url)
        var configuration = target.configuration
        configuration.connectionCount = connections
        configuration.commandTimeout = timeout
        configuration.connectTimeout = timeout
        return RedisClusterClient(seeds: target.clusterSeeds!, configuration: configuration, logger: .quiet)
    }

    public func stop() async {
        for node in nodes { await node.stop() }
    }

    /// MEET, slots split evenly across the primaries, replicas attached, until every node
    /// reports `cluster_state:ok`.
    private func form(replicas: Int) async throws {
        let clients = nodes.map { $0.client(connections: 1) }
        defer { Task { for client in clients { await client.shutdown() } } }
        for client in clients.dropFirst() {
            _ = try await client.send("CLUSTER", "MEET", "127.0.0.1", nodes[0].port)
        }
        let perPrimary = HashSlot.count / primaryCount
        for index in 0..<primaryCount {
            let start = index * perPrimary
            let end = index == primaryCount - 1 ? HashSlot.count - 1 : start + perPrimary - 1
            _ = try await clients[index].send("CLUSTER", "ADDSLOTSRANGE", start, end)
        }
        var ids: [String] = []
        for client in clients.prefix(primaryCount) { ids.append(try await client.send("CLUSTER", "MYID").string ?? "") }
        for replica in 0..<(primaryCount * replicas) {
            let client = clients[primaryCount + replica]
            let primary = ids[replica % primaryCount]
            // The replica must know the primary (gossip) before it can follow it.
            for attempt in 0..<200 {
                do {
                    _ = try await client.send("CLUSTER", "REPLICATE", primary)
                    break
                } catch {
                    if attempt == 199 { throw error }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        for client in clients {
            for attempt in 0..<400 {
                let info = try await client.send("CLUSTER", "INFO").string ?? ""
                if info.contains("cluster_state:ok") { break }
                if attempt == 399 { throw HarnessError("the cluster did not reach cluster_state:ok") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        // Replicas in sync with their primaries, so that a failover has something to fail over to.
        for client in clients.dropFirst(primaryCount) {
            for attempt in 0..<400 {
                let info = try await client.send("INFO", "replication").string ?? ""
                if info.contains("master_link_status:up") { break }
                if attempt == 399 { throw HarnessError("a replica did not get in sync with its primary") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }
}

/// Where integration tests find Redis: one shared server, or — with
/// `TOLLGATE_TEST_REDIS=cluster` — one shared local cluster (3 primaries, 3 replicas).
public enum TestRedis {
    public static var clusterMode: Bool { ProcessInfo.processInfo.environment["TOLLGATE_TEST_REDIS"] == "cluster" }

    private actor Shared {
        static let instance = Shared()
        var cluster: Task<RedisCluster, any Error>?

        func get() async throws -> RedisCluster {
            if let cluster { return try await cluster.value }
            let task = Task { try await RedisCluster.start() }
            cluster = task
            return try await task.value
        }

        func started() async -> RedisCluster? {
            guard let cluster else { return nil }
            return try? await cluster.value
        }
    }

    /// A client of the shared server or cluster, if this test process started it.
    static func existingClient() async -> (any RedisExecutor)? {
        if clusterMode { return await Shared.instance.started()?.client(connections: 1, timeout: .seconds(2)) }
        return await SharedRedis.shared.startedServer()?.client(connections: 1)
    }

    public static func cluster() async throws -> RedisCluster { try await Shared.instance.get() }

    /// The URL processes are given.
    public static func url() async throws -> String {
        clusterMode ? try await cluster().url : try await SharedRedis.server().url
    }

    public static func client(connections: Int = 2, timeout: Duration = .seconds(2)) async throws -> any RedisExecutor {
        clusterMode ? try await cluster().client(connections: connections, timeout: timeout)
            : try await SharedRedis.server().client(connections: connections, timeout: timeout)
    }

    /// For a subscriber connection (a cluster broadcasts pub/sub: any node will do).
    public static func configuration(timeout: Duration = .seconds(2)) async throws -> RedisConfiguration {
        if clusterMode { return try await cluster().nodes[0].configuration(timeout: timeout) }
        return try await SharedRedis.server().configuration(timeout: timeout)
    }
}
