import Logging

/// Builds the right client for a URL: `redis://[user:password@]host:port[/db]` for one
/// server, `redis+cluster://[user:password@]host:port[,host:port...]` for a Redis Cluster
/// (the nodes listed are seeds; the slot map is learnt from them).
public enum RedisConnector {
    public struct Target: Sendable {
        /// Timeouts, credentials and, for one server, its endpoint; for a cluster, the first seed.
        public var configuration: RedisConfiguration
        /// The seed nodes of a cluster; nil for a single server.
        public var clusterSeeds: [RedisEndpoint]?
    }

    public static func parse(_ url: String) throws(RedisError) -> Target {
        let clusterScheme = "redis+cluster://"
        guard url.hasPrefix(clusterScheme) else { return Target(configuration: try RedisConfiguration(url: url), clusterSeeds: nil) }
        var rest = Substring(url.dropFirst(clusterScheme.count))
        var credentials = ""
        if let at = rest.lastIndex(of: "@") {
            credentials = String(rest[..<at]) + "@"
            rest = rest[rest.index(after: at)...]
        }
        let nodes = rest.split(separator: ",").map { $0.trimmingCharacters() }
        guard !nodes.isEmpty else {
            throw RedisError(.invalidEndpoint, "invalid Redis URL: redis+cluster:// needs at least one host:port", delivery: .notSent)
        }
        var seeds: [RedisEndpoint] = []
        for node in nodes {
            let endpoint = try RedisEndpoint(url: "redis://" + credentials + node)
            guard endpoint.database == 0 else {
                throw RedisError(.invalidEndpoint, "invalid Redis URL: a cluster has only database 0", delivery: .notSent)
            }
            seeds.append(endpoint)
        }
        return Target(configuration: RedisConfiguration(endpoint: seeds[0]), clusterSeeds: seeds)
    }

    /// A client for `target` with `configuration`'s timeouts and pool size.
    public static func executor(_ target: Target, configuration: RedisConfiguration, logger: Logger) -> any RedisExecutor {
        if let seeds = target.clusterSeeds {
            return RedisClusterClient(seeds: seeds, configuration: configuration, logger: logger)
        }
        return RedisClient(configuration: configuration, logger: logger)
    }
}

extension RedisExecutor {
    /// The clients of every primary (one for a single server): for commands such as `SCAN`
    /// that act on a node rather than a key.
    public func nodes() async -> [any RedisExecutor] {
        if let cluster = self as? RedisClusterClient { return await cluster.primaries() }
        return [self]
    }
}

private extension Substring {
    func trimmingCharacters() -> String {
        var text = self
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}
