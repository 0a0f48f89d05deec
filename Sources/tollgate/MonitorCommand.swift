import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import TollgateMonitor
import TollgateAdmin
import TollgateRedis
import UnixSignals

/// `tollgate monitor`: roll-ups, hold expiry, alerts. Run one or several.
struct MonitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Run a monitor: ledger roll-ups, expiry of abandoned holds, quota alerts, metrics."
    )

    @OptionGroup var redisOptions: RedisOptions

    @Option(help: "This monitor's name among its peers (default: host-pid).")
    var consumer: String = "\(ProcessInfo.processInfo.hostName)-\(getpid())"

    @Option(help: "Port of /metrics and /healthz on --metrics-host, 0-65535; 0 for none (or TOLLGATE_METRICS_PORT).")
    var metricsPort: Int = EnvironmentSettings.metricsPort.value ?? 0

    @Option(help: "Address /metrics listens on.")
    var metricsHost: String = "127.0.0.1"

    @Option(name: .customLong("webhook"), help: "URL alerts are POSTed to (repeatable; or TOLLGATE_WEBHOOK_URL).")
    var webhooks: [String] = EnvironmentSettings.webhookURL.value.map { [$0] } ?? []

    @Option(help: "Secret signing webhook calls (HMAC-SHA256; or TOLLGATE_WEBHOOK_SECRET).")
    var webhookSecret: String = Environment.value("TOLLGATE_WEBHOOK_SECRET") ?? ""

    @Option(help: "Seconds between alert evaluations.")
    var alertSeconds: Double = 5

    @Option(help: "Seconds between hold-expiry passes.")
    var expirySeconds: Double = 1

    @Option(help: "Seconds before another consumer's pending ledger entries are taken over.")
    var claimSeconds: Double = 30

    @OptionGroup var serviceOptions: ServiceOptions

    func validate() throws {
        try EnvironmentSettings.metricsPort.validate()
        try EnvironmentSettings.webhookURL.validate()
        guard EnvironmentSettings.isHost(metricsHost) else { throw ValidationError("--metrics-host must be a host name or IP address without spaces") }
        guard (0...65_535).contains(metricsPort) else { throw ValidationError("--metrics-port must be between 0 and 65535") }
        guard webhooks.isEmpty || webhookSecret.count >= 16 else { throw ValidationError("--webhook-secret must be at least 16 characters when a webhook is given") }
        for url in webhooks where !EnvironmentSettings.isWebURL(url) {
            throw ValidationError("--webhook '\(url)' must be an http:// or https:// URL")
        }
        for (flag, seconds) in [("--alert-seconds", alertSeconds), ("--expiry-seconds", expirySeconds), ("--claim-seconds", claimSeconds)] {
            guard seconds >= 0.01, seconds <= 86_400 else { throw ValidationError("\(flag) must be between 0.01 and 86400 seconds") }
        }
        guard !consumer.isEmpty, consumer.count <= 200 else { throw ValidationError("--consumer must be 1-200 characters") }
    }

    func run() async throws {
        serviceOptions.bootstrapLogging()
        var logger = Logger(label: "tollgate.monitor")
        logger[metadataKey: "monitor.consumer"] = "\(consumer)"
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let redisConfiguration = try redisOptions.configuration(clientName: "tollgate-monitor")
        let redis = try redisOptions.executor(redisConfiguration, logger: logger)
        let monitor = try Monitor(
            configuration: MonitorConfiguration(
                consumer: consumer, claimAfter: .milliseconds(Int64(claimSeconds * 1000)), expiryInterval: .milliseconds(Int64(expirySeconds * 1000)),
                alertInterval: .milliseconds(Int64(alertSeconds * 1000)), webhooks: webhooks.map { Webhook(url: $0, secret: webhookSecret) },
                clockOffsetMillis: serviceOptions.clockOffsetMs),
            redis: redis, redisConfiguration: redisConfiguration, keyPrefix: redisOptions.prefix, registry: registry, logger: logger)

        var services = monitor.services
        if metricsPort > 0 {
            let router = Router()
            router.get("/metrics") { _, _ in
                var buffer: [UInt8] = []
                registry.emit(into: &buffer)
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
            }
            router.get("/healthz") { _, _ in "alive\n" }
            services.append(Application(router: router, configuration: .init(address: .hostname(metricsHost, port: metricsPort), serverName: "tollgate-monitor"), logger: logger))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        logger.info("monitor starting", metadata: ["monitor.webhooks": "\(webhooks.count)"])
        try await group.run()
        await redis.shutdown()
        logger.info("monitor stopped")
    }
}
