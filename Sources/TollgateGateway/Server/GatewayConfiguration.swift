import CoreMetrics
import Foundation
import TollgateCore
/// How a gateway node listens, waits and degrades. Built from flags and `TOLLGATE_*`
/// environment variables by `tollgate serve`; defaults suit a loopback deployment.
public struct GatewayConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Largest request body accepted; larger ones get 413.
    public var bodyLimit: Int
    /// Largest body of the routes that take a prompt (`reserve`, `tokens/count`); 413 beyond.
    public var promptBodyLimit: Int
    /// How often the configuration version is polled (pub/sub notices come in between).
    public var configurationPollInterval: Duration
    /// Customers (keys, workspaces, organisations, tokens) each kind of the cache holds at most.
    public var customerCacheSize: Int
    /// How long an unknown API key or token is answered from memory without asking Redis.
    public var negativeCacheTTL: Duration
    /// A store with at most this many keys is loaded whole at start (see ``CustomerChangeFeed``).
    public var customerPreload: Int
    /// The change feed reads at most once per this gap (see ``CustomerChangeFeed``).
    public var customerFeedGap: Duration
    /// Reserves and commits of a partition that arrive while one is in flight go to Redis
    /// together, as one batch call (see ``CallCoalescer``); false sends each on its own.
    public var batchCalls: Bool
    /// Consecutive Redis failures that open the circuit breaker.
    public var breakerFailureThreshold: Int
    /// How long the breaker stays open before one probe request may try Redis again.
    public var breakerCooldown: Duration
    /// The spool for commits, records and releases that cannot reach Redis; one live
    /// process owns it (see ``defaultSpoolPath(node:port:)`` for the default).
    public var spoolPath: String
    /// The spool refuses new entries (503) beyond this size.
    public var spoolLimitBytes: Int
    /// After SIGTERM, how long /readyz reports "not ready" before in-flight requests drain.
    public var drainDelay: Duration
    /// Name of this node in logs and metrics.
    public var nodeName: String
    /// Added to Redis' clock by every script (0 in production; tests only).
    public var clockOffsetMillis: Int64
    /// Proxy mode: upstreams, timeouts, body limits, connection pool.
    public var proxy: ProxyConfiguration

    public init(host: String = "127.0.0.1", port: Int = 8080, bodyLimit: Int = 64 * 1024, promptBodyLimit: Int = 8 * 1024 * 1024,
                configurationPollInterval: Duration = .milliseconds(250), breakerFailureThreshold: Int = 3,
                breakerCooldown: Duration = .seconds(1), spoolPath: String? = nil,
                spoolLimitBytes: Int = 64 * 1024 * 1024, drainDelay: Duration = .seconds(2), nodeName: String = "gateway",
                clockOffsetMillis: Int64 = 0, proxy: ProxyConfiguration = ProxyConfiguration(),
                customerCacheSize: Int = 100_000, negativeCacheTTL: Duration = .seconds(5), customerPreload: Int = 10_000,
                customerFeedGap: Duration = CustomerChangeFeed.defaultReadGap, batchCalls: Bool = true) {
        self.batchCalls = batchCalls
        self.customerPreload = customerPreload
        self.customerFeedGap = customerFeedGap
        self.customerCacheSize = customerCacheSize
        self.negativeCacheTTL = negativeCacheTTL
        self.host = host
        self.port = port
        self.bodyLimit = bodyLimit
        self.promptBodyLimit = promptBodyLimit
        self.configurationPollInterval = configurationPollInterval
        self.breakerFailureThreshold = breakerFailureThreshold
        self.breakerCooldown = breakerCooldown
        self.spoolPath = spoolPath ?? Self.defaultSpoolPath(node: nodeName, port: port)
        self.spoolLimitBytes = spoolLimitBytes
        self.drainDelay = drainDelay
        self.nodeName = nodeName
        self.clockOffsetMillis = clockOffsetMillis
        self.proxy = proxy
    }

    /// The node's name when it is not given one.
    public static let defaultNodeName = "gateway"

    /// The spool a node uses unless told otherwise, in the working directory:
    /// `tollgate-spool-<node>.jsonl`, or `tollgate-spool-<port>.jsonl` for a node that keeps
    /// the default name, so that gateways started from one directory each get their own.
    public static func defaultSpoolPath(node: String, port: Int) -> String {
        guard node != defaultNodeName else { return "tollgate-spool-\(port).jsonl" }
        let safe = node.unicodeScalars.map { scalar -> String in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "-_.".unicodeScalars.contains(scalar)) ? String(scalar) : "_"
        }.joined()
        return "tollgate-spool-\(safe).jsonl"
    }
}
