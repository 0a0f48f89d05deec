/// How the client connects and how long it waits.
public struct RedisConfiguration: Sendable {
    public var endpoint: RedisEndpoint
    /// Connections opened to the server. Concurrent callers share them; what queues up
    /// while a batch is in flight goes out together in the next write.
    public var connectionCount: Int
    /// Longest wait for the TCP connection and the `AUTH`/`SELECT` handshake.
    public var connectTimeout: Duration
    /// Longest wait for a reply, counted from the moment a command is handed to the client.
    public var commandTimeout: Duration
    /// First wait between reconnection attempts; doubles up to ``maximumReconnectDelay``
    /// (500 ms by default: a client is back within half a second of Redis, well inside the
    /// gateway's 2-second recovery goal, and an attempt against a closed port costs little).
    public var initialReconnectDelay: Duration
    public var maximumReconnectDelay: Duration
    /// Seconds of idleness before TCP keepalive probes start.
    public var keepAliveSeconds: Int
    /// Sent as `CLIENT SETNAME`, so operators can tell connections apart in `CLIENT LIST`.
    public var clientName: String?
    /// Commands written in one batch at most.
    public var maximumBatchSize: Int

    public init(
        endpoint: RedisEndpoint = RedisEndpoint(),
        connectionCount: Int = 2,
        connectTimeout: Duration = .milliseconds(500),
        commandTimeout: Duration = .milliseconds(500),
        initialReconnectDelay: Duration = .milliseconds(25),
        maximumReconnectDelay: Duration = .milliseconds(500),
        keepAliveSeconds: Int = 15,
        clientName: String? = nil,
        maximumBatchSize: Int = 512
    ) {
        self.endpoint = endpoint
        self.connectionCount = max(1, connectionCount)
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.initialReconnectDelay = initialReconnectDelay
        self.maximumReconnectDelay = maximumReconnectDelay
        self.keepAliveSeconds = keepAliveSeconds
        self.clientName = clientName
        self.maximumBatchSize = max(1, maximumBatchSize)
    }

    public init(url: String) throws(RedisError) {
        self.init(endpoint: try RedisEndpoint(url: url))
    }
}

extension Duration {
    /// Whole nanoseconds, saturating.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (product, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : product &+ UInt64(attoseconds / 1_000_000_000)
    }
}
