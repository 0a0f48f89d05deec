import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import TollgateGateway
import TollgateAdmin
import TollgateRedis
import UnixSignals

/// `tollgate serve`: one gateway node.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a gateway node: the HTTP API app servers call before and after each model call."
    )

    @OptionGroup var redisOptions: RedisOptions

    @Option(help: "Address to listen on (or TOLLGATE_HOST).")
    var host: String = EnvironmentSettings.host.value ?? "127.0.0.1"

    @Option(help: "Port to listen on, 1-65535 (or TOLLGATE_PORT).")
    var port: Int = EnvironmentSettings.port.value ?? 8080

    @Option(help: ArgumentHelp("Spool file for commits that cannot reach Redis, owned by this process alone (or TOLLGATE_SPOOL).",
                               discussion: "Default: tollgate-spool-<node>.jsonl in the working directory, or tollgate-spool-<port>.jsonl without --node."))
    var spool: String?

    @Option(help: "Largest spool in bytes before commits are refused with 503.")
    var spoolLimit: Int = 64 * 1024 * 1024

    @Option(help: "Largest request body in bytes (413 beyond).")
    var bodyLimit: Int = 64 * 1024

    @Option(help: "Largest body in bytes of the routes that take a prompt, reserve and tokens/count (or TOLLGATE_PROMPT_BODY_LIMIT; 413 beyond).")
    var promptBodyLimit: Int = EnvironmentSettings.promptBodyLimit.value ?? 8 * 1024 * 1024

    @Option(help: "Seconds /readyz fails before draining, after SIGTERM.")
    var drainSeconds: Double = 2

    @Option(help: "Configuration poll interval in milliseconds.")
    var pollMs: Int = 250

    @Option(help: "Customers (keys, workspaces, organizations, tokens) the cache holds at most, per kind (or TOLLGATE_CUSTOMER_CACHE_SIZE).")
    var customerCacheSize: Int = Environment.value("TOLLGATE_CUSTOMER_CACHE_SIZE").flatMap { Int($0) } ?? 100_000

    @Option(help: "Load every customer at start when there are at most this many API keys (0: never).")
    var customerPreload: Int = 10_000

    @Option(help: "Milliseconds the customer change feed waits after a read before the next, so changes arriving meanwhile are read together (0: a read per change).")
    var customerFeedGapMs: Int = 20

    @Flag(inversion: .prefixedNo, help: "Send reserves and commits of a partition that arrive while one is in flight to Redis together, as one batch call (less Redis time per decision under load; an idle gateway sends each at once).")
    var batchCalls = true

    @Option(help: "Milliseconds an unknown api_key or token is answered from memory without asking Redis.")
    var negativeCacheMs: Int = 5_000

    @Option(help: "Consecutive calls that find Redis unavailable before the circuit breaker opens.")
    var breakerThreshold: Int = 3

    @Option(help: "Milliseconds the circuit breaker stays open before one probe call may try Redis.")
    var breakerCooldownMs: Int = 1_000

    @Option(help: "Name of this node in logs (or TOLLGATE_NODE).")
    var node: String = Environment.value("TOLLGATE_NODE") ?? GatewayConfiguration.defaultNodeName

    @OptionGroup(title: "Proxy mode") var proxyOptions: ProxyOptions

    @OptionGroup var serviceOptions: ServiceOptions

    /// Exit status when the spool belongs to another process or cannot be created (EX_CONFIG).
    static let spoolRefused = ExitCode(78)

    func validate() throws {
        try EnvironmentSettings.host.validate()
        try EnvironmentSettings.port.validate()
        guard EnvironmentSettings.isHost(host) else { throw ValidationError("--host must be a host name or IP address without spaces") }
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
        guard bodyLimit >= 1_024 else { throw ValidationError("--body-limit must be at least 1024 bytes") }
        try EnvironmentSettings.promptBodyLimit.validate()
        guard promptBodyLimit <= 1_073_741_824 else { throw ValidationError("--prompt-body-limit must be at most 1073741824 bytes (1 GiB)") }
        guard promptBodyLimit >= bodyLimit else { throw ValidationError("--prompt-body-limit must be at least --body-limit") }
        guard spoolLimit >= 1_024 else { throw ValidationError("--spool-limit must be at least 1024 bytes") }
        guard (0...3_600).contains(drainSeconds) else { throw ValidationError("--drain-seconds must be between 0 and 3600") }
        guard (10...60_000).contains(pollMs) else { throw ValidationError("--poll-ms must be between 10 and 60000") }
        guard (100...100_000_000).contains(customerCacheSize) else { throw ValidationError("--customer-cache-size must be between 100 and 100000000") }
        guard (0...1_000_000).contains(customerPreload) else { throw ValidationError("--customer-preload must be between 0 and 1000000") }
        guard (0...1_000).contains(customerFeedGapMs) else { throw ValidationError("--customer-feed-gap-ms must be between 0 and 1000") }
        guard (0...3_600_000).contains(negativeCacheMs) else { throw ValidationError("--negative-cache-ms must be between 0 and 3600000") }
        guard (1...1_000).contains(breakerThreshold) else { throw ValidationError("--breaker-threshold must be between 1 and 1000") }
        guard (10...600_000).contains(breakerCooldownMs) else { throw ValidationError("--breaker-cooldown-ms must be between 10 and 600000") }
        guard spool?.isEmpty != true else { throw ValidationError("--spool must not be empty") }
    }

    func run() async throws {
        // A file-size limit (ulimit -f) makes a spool write fail with EFBIG, answered 503,
        // instead of killing the process.
        signal(SIGXFSZ, SIG_IGN)
        serviceOptions.bootstrapLogging()
        var logger = Logger(label: "tollgate.gateway")
        logger[metadataKey: "gateway.node"] = "\(node)"
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let proxy = try proxyOptions.configuration()
        for upstream in proxy.upstreams.values.sorted(by: { $0.provider < $1.provider }) {
            logger.info("proxy upstream", metadata: ["proxy.upstream": "\(upstream)"])
        }
        let redisConfiguration = try redisOptions.configuration(clientName: "tollgate-gateway-\(node)")
        let redis = try redisOptions.executor(redisConfiguration, logger: logger)
        let gateway: Gateway
        do {
            gateway = try Gateway(
                configuration: GatewayConfiguration(
                    host: host, port: port, bodyLimit: bodyLimit, promptBodyLimit: promptBodyLimit, configurationPollInterval: .milliseconds(pollMs),
                    breakerFailureThreshold: breakerThreshold, breakerCooldown: .milliseconds(breakerCooldownMs),
                    spoolPath: spool ?? Environment.value("TOLLGATE_SPOOL"),
                    spoolLimitBytes: spoolLimit, drainDelay: .milliseconds(Int64(drainSeconds * 1000)), nodeName: node, clockOffsetMillis: serviceOptions.clockOffsetMs,
                    proxy: proxy, customerCacheSize: customerCacheSize, negativeCacheTTL: .milliseconds(negativeCacheMs), customerPreload: customerPreload,
                    customerFeedGap: .milliseconds(customerFeedGapMs), batchCalls: batchCalls),
                redis: redis, redisConfiguration: redisConfiguration, keyPrefix: redisOptions.prefix, registry: registry, logger: logger)
        } catch let error as SpoolError {
            // Another process owns the spool, or it cannot be created: refuse to start.
            await redis.shutdown()
            let hint = error.code == .inUse ? "; give each gateway its own spool file with --spool" : ""
            FileHandle.standardError.write(Data("error: \(error.description)\(hint)\n".utf8))
            throw Self.spoolRefused
        }

        let serverLogger = logger
        let application = Application(
            router: gateway.buildRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "tollgate"),
            onServerRunning: { channel in
                serverLogger.info("gateway listening", metadata: ["http.address": "\(channel.localAddress?.description ?? "?")"])
            },
            logger: logger)
        // Shut down in reverse: readiness fails first, then the server drains, then the
        // spool gets its last replay, then the watcher stops.
        let group = ServiceGroup(
            services: gateway.services + [application, gateway.readinessGate],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        try await group.run()
        await redis.shutdown()
        logger.info("gateway stopped")
    }
}
