import ArgumentParser
import Foundation
import Logging
import TollgateAdmin
import TollgateRedis

/// Where Redis is and which key prefix the deployment uses: shared by every command.
struct RedisOptions: ParsableArguments {
    @Option(name: .long, help: "Redis URL: redis://[user:password@]host:port[/db], or redis+cluster://host:port[,host:port...] for a cluster (or TOLLGATE_REDIS_URL).")
    var redis: String = EnvironmentSettings.redisURL.value ?? "redis://127.0.0.1:6379"

    @Option(name: .long, help: "Prefix of every Redis key of this deployment (or TOLLGATE_KEY_PREFIX).")
    var prefix: String = EnvironmentSettings.keyPrefix.value ?? "tg"

    @Option(name: .long, help: "Redis command timeout in milliseconds, 1-60000 (or TOLLGATE_REDIS_TIMEOUT_MS).")
    var redisTimeoutMs: Int = EnvironmentSettings.redisTimeoutMs.value ?? 500

    func validate() throws {
        try EnvironmentSettings.redisTimeoutMs.validate()
        try AdminOptions.validate(redis: redis, prefix: prefix)
        guard (1...60_000).contains(redisTimeoutMs) else { throw ValidationError("--redis-timeout-ms must be between 1 and 60000") }
    }

    /// The configuration of one connection pool (for a cluster: per node, the endpoint
    /// being the first seed — what a subscriber connects to).
    func configuration(clientName: String, connections: Int = 2) throws -> RedisConfiguration {
        var configuration = try RedisConnector.parse(redis).configuration
        configuration.commandTimeout = .milliseconds(redisTimeoutMs)
        configuration.connectTimeout = .milliseconds(redisTimeoutMs)
        configuration.clientName = clientName
        configuration.connectionCount = connections
        return configuration
    }

    /// A client for one server or a cluster, whichever the URL names.
    func executor(_ configuration: RedisConfiguration, logger: Logger) throws -> any RedisExecutor {
        RedisConnector.executor(try RedisConnector.parse(redis), configuration: configuration, logger: logger)
    }
}
