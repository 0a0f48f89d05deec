/// A webhook alerts are POSTed to, signed with HMAC-SHA256 of `<timestamp>.<body>`.
public struct Webhook: Sendable, Hashable {
    public var url: String
    public var secret: String

    public init(url: String, secret: String) {
        self.url = url
        self.secret = secret
    }
}

/// How a monitor works: who it is among its peers, how often it does each job, how long
/// roll-ups are kept, where alerts go.
public struct MonitorConfiguration: Sendable {
    /// This monitor's consumer name in the ledger's consumer group (unique per process).
    public var consumer: String
    public var group: String
    public var batchSize: Int
    /// Sleep when every partition's ledger is drained.
    public var idlePoll: Duration
    /// Entries pending this long with a consumer are taken over (that consumer died).
    public var claimAfter: Duration
    public var expiryInterval: Duration
    public var alertInterval: Duration
    public var trimInterval: Duration
    public var configurationPollInterval: Duration
    public var hourRetentionSeconds: Int
    public var dayRetentionSeconds: Int
    public var monthRetentionSeconds: Int
    /// TPM use at or above this share of the limit counts as saturated.
    public var saturationRatio: Double
    public var webhooks: [Webhook]
    /// Attempts per webhook delivery (the first and the retries), with doubling backoff.
    public var webhookAttempts: Int
    public var webhookInitialBackoff: Duration
    /// How long one send may wait for the endpoint's answer before it counts as failed.
    public var webhookTimeout: Duration
    /// Sends in flight per webhook: an endpoint that hangs holds at most this many.
    public var webhookConcurrency: Int
    /// Alerts waiting per webhook; beyond, an alert is dropped for that webhook (counted in
    /// `tollgate_monitor_alert_deliveries_failed_total` and logged).
    public var webhookQueueLimit: Int
    /// Added to Redis' clock by every script (0 in production; tests only).
    public var clockOffsetMillis: Int64
    /// Organisations (for their timezone) the monitor's customer cache holds at most.
    public var customerCacheSize: Int = 100_000

    public init(consumer: String, group: String = "rollup", batchSize: Int = 200, idlePoll: Duration = .milliseconds(100),
                claimAfter: Duration = .seconds(30), expiryInterval: Duration = .seconds(1), alertInterval: Duration = .seconds(5),
                trimInterval: Duration = .seconds(30), configurationPollInterval: Duration = .milliseconds(500),
                hourRetentionSeconds: Int = 8 * 86_400, dayRetentionSeconds: Int = 400 * 86_400, monthRetentionSeconds: Int = 5 * 366 * 86_400,
                saturationRatio: Double = 0.95, webhooks: [Webhook] = [], webhookAttempts: Int = 5,
                webhookInitialBackoff: Duration = .milliseconds(250), webhookTimeout: Duration = .seconds(5), webhookConcurrency: Int = 4, webhookQueueLimit: Int = 1_000,
                clockOffsetMillis: Int64 = 0) {
        self.consumer = consumer
        self.group = group
        self.batchSize = batchSize
        self.idlePoll = idlePoll
        self.claimAfter = claimAfter
        self.expiryInterval = expiryInterval
        self.alertInterval = alertInterval
        self.trimInterval = trimInterval
        self.configurationPollInterval = configurationPollInterval
        self.hourRetentionSeconds = hourRetentionSeconds
        self.dayRetentionSeconds = dayRetentionSeconds
        self.monthRetentionSeconds = monthRetentionSeconds
        self.saturationRatio = saturationRatio
        self.webhooks = webhooks
        self.webhookAttempts = webhookAttempts
        self.webhookInitialBackoff = webhookInitialBackoff
        self.webhookTimeout = webhookTimeout
        self.webhookConcurrency = webhookConcurrency
        self.webhookQueueLimit = webhookQueueLimit
        self.clockOffsetMillis = clockOffsetMillis
    }
}
