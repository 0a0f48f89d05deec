import ArgumentParser
import Hummingbird
import Logging
import ServiceLifecycle
import TollgateAdmin
import TollgateDashboard
import TollgateRedis
import UnixSignals

/// `tollgate dashboard`: the read-only web pages over the roll-ups and live counters.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Run the dashboard: cost, budgets and live refusals in the browser (dashboard tokens: `tollgate dashboard-token`).",
        discussion: "Give it the read-only Redis user of `tollgate acl --dashboard-password` in --redis.")

    @OptionGroup var redisOptions: RedisOptions

    @Option(help: "Address to listen on (or TOLLGATE_DASHBOARD_HOST).")
    var host: String = EnvironmentSettings.dashboardHost.value ?? "127.0.0.1"

    @Option(help: "Port to listen on (or TOLLGATE_DASHBOARD_PORT).")
    var port: Int = EnvironmentSettings.dashboardPort.value ?? 8090

    @Option(help: "Configuration poll interval in milliseconds.")
    var pollMs: Int = 250

    @Option(help: "How many organizations the overview lists (the highest-cost in the range; 1-1000).")
    var overviewOrganizations: Int = 50

    @OptionGroup var serviceOptions: ServiceOptions

    func validate() throws {
        try EnvironmentSettings.dashboardHost.validate()
        try EnvironmentSettings.dashboardPort.validate()
        guard EnvironmentSettings.isHost(host) else { throw ValidationError("--host must be a host name or IP address without spaces") }
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
        guard pollMs >= 10 else { throw ValidationError("--poll-ms must be at least 10") }
        guard (1...1_000).contains(overviewOrganizations) else { throw ValidationError("--overview-organizations must be between 1 and 1000") }
    }

    func run() async throws {
        serviceOptions.bootstrapLogging()
        let logger = Logger(label: "tollgate.dashboard")
        let redisConfiguration = try redisOptions.configuration(clientName: "tollgate-dashboard", connections: 2)
        let redis = try redisOptions.executor(redisConfiguration, logger: logger)
        let dashboard = try Dashboard(
            configuration: DashboardConfiguration(host: host, port: port, configurationPollInterval: .milliseconds(pollMs),
                                                  clockOffsetMillis: serviceOptions.clockOffsetMs, overviewOrganizations: overviewOrganizations),
            redis: redis, redisConfiguration: redisConfiguration, keyPrefix: redisOptions.prefix, logger: logger)
        let application = Application(
            router: dashboard.buildRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "tollgate-dashboard"),
            onServerRunning: { channel in
                logger.info("dashboard listening", metadata: ["http.address": "\(channel.localAddress?.description ?? "?")"])
            },
            logger: logger)
        let group = ServiceGroup(services: dashboard.services + [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
        await redis.shutdown()
        logger.info("dashboard stopped")
    }
}
