/// How the admin API listens and what it accepts. Built from flags and `TOLLGATE_ADMIN_*`
/// environment variables by `tollgate admin-api`; defaults suit a loopback deployment.
public struct AdminAPIConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Largest request body accepted; larger ones get 413.
    public var bodyLimit: Int
    /// How long an `Idempotency-Key` and the first answer to it are kept.
    public var idempotencyRetention: Duration
    /// How long a retry waits for the first request with its key to finish before a 409.
    public var idempotencyWait: Duration
    /// Lists return at most this many items per page (`limit`).
    public var maximumPageSize: Int
    public var defaultPageSize: Int
    /// How often the configuration version (and so the admin tokens) is polled.
    public var configurationPollInterval: Duration

    public init(host: String = "127.0.0.1", port: Int = 8070, bodyLimit: Int = 64 * 1024, idempotencyRetention: Duration = .seconds(86_400),
                idempotencyWait: Duration = .seconds(10), maximumPageSize: Int = 500, defaultPageSize: Int = 50,
                configurationPollInterval: Duration = .milliseconds(250)) {
        self.host = host
        self.port = port
        self.bodyLimit = bodyLimit
        self.idempotencyRetention = idempotencyRetention
        self.idempotencyWait = idempotencyWait
        self.maximumPageSize = maximumPageSize
        self.defaultPageSize = defaultPageSize
        self.configurationPollInterval = configurationPollInterval
    }
}
