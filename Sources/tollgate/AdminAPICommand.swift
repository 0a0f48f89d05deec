import ArgumentParser
import Hummingbird
import Logging
import ServiceLifecycle
import TollgateAdmin
import TollgateAdminAPI
import TollgateCore
import TollgateRedis
import UnixSignals

/// `tollgate admin-api`: the admin HTTP API, a process of its own (Docs/admin-api.md says why).
struct AdminAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin-api",
        abstract: "Run the admin HTTP API: customers, keys, service tokens, tiers, prices, budgets, usage (tokens: `tollgate admin-token`).",
        discussion: "Its own process and port, apart from the gateways' data plane: see Docs/admin-api.md.")

    @OptionGroup var redisOptions: RedisOptions

    @Option(help: "Address to listen on (or TOLLGATE_ADMIN_HOST).")
    var host: String = EnvironmentSettings.adminHost.value ?? "127.0.0.1"

    @Option(help: "Port to listen on (or TOLLGATE_ADMIN_PORT).")
    var port: Int = EnvironmentSettings.adminPort.value ?? 8070

    @Option(help: "Seconds an Idempotency-Key and its first answer are kept, 60-604800.")
    var idempotencySeconds: Int = 86_400

    @Option(help: "Largest page a list returns (its `limit`), 1-10000.")
    var maximumPageSize: Int = 500

    @Option(help: "Configuration poll interval in milliseconds (admin tokens are read from it).")
    var pollMs: Int = 250

    @OptionGroup var serviceOptions: ServiceOptions

    func validate() throws {
        try EnvironmentSettings.adminHost.validate()
        try EnvironmentSettings.adminPort.validate()
        guard EnvironmentSettings.isHost(host) else { throw ValidationError("--host must be a host name or IP address without spaces") }
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
        guard (60...604_800).contains(idempotencySeconds) else { throw ValidationError("--idempotency-seconds must be between 60 and 604800") }
        guard (1...10_000).contains(maximumPageSize) else { throw ValidationError("--maximum-page-size must be between 1 and 10000") }
        guard pollMs >= 10 else { throw ValidationError("--poll-ms must be at least 10") }
    }

    func run() async throws {
        serviceOptions.bootstrapLogging()
        let logger = Logger(label: "tollgate.admin-api")
        let redisConfiguration = try redisOptions.configuration(clientName: "tollgate-admin-api", connections: 4)
        let redis = try redisOptions.executor(redisConfiguration, logger: logger)
        let customers = try await CustomerStore.open(redis: redis, keys: KeyLayout(prefix: redisOptions.prefix))
        let api = try AdminAPI(
            configuration: AdminAPIConfiguration(host: host, port: port, idempotencyRetention: .seconds(idempotencySeconds),
                                                 maximumPageSize: maximumPageSize, defaultPageSize: min(50, maximumPageSize),
                                                 configurationPollInterval: .milliseconds(pollMs)),
            redis: redis, redisConfiguration: redisConfiguration, customers: customers, logger: logger)
        let application = Application(
            router: api.buildRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "tollgate-admin-api"),
            onServerRunning: { channel in
                logger.info("admin API listening", metadata: ["http.address": "\(channel.localAddress?.description ?? "?")"])
            },
            logger: logger)
        let group = ServiceGroup(services: api.services + [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
        await redis.shutdown()
        logger.info("admin API stopped")
    }
}
