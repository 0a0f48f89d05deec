/// What the rest of Tollgate needs from Redis: send a command, send a pipeline.
/// ``RedisClient`` talks to one server; a cluster client routes by hash slot.
public protocol RedisExecutor: Sendable {
    /// Sends one command and waits for its reply. `EVALSHA` commands built with
    /// ``RedisCommand/evalsha(_:keys:arguments:)`` are loaded and retried on `NOSCRIPT`.
    func send(_ command: RedisCommand) async throws(RedisError) -> RedisReply

    /// Sends commands back to back on one connection and returns their replies in order.
    /// Only the commands that got `NOSCRIPT` are sent again, after `SCRIPT LOAD`.
    func pipeline(_ commands: [RedisCommand]) async -> [Result<RedisReply, RedisError>]

    /// Finishes what is in flight and closes the connections.
    func shutdown() async
}

extension RedisExecutor {
    /// Runs `script` with `EVALSHA`, loading it first if the server does not know it.
    public func run(_ script: RedisScript, keys: [any RedisArgument], arguments: [any RedisArgument] = []) async throws(RedisError) -> RedisReply {
        try await send(.evalsha(script, keys: keys, arguments: arguments))
    }

    /// Sends a command built from its words: `try await redis.send("SET", key, value)`.
    public func send(_ name: String, _ arguments: any RedisArgument...) async throws(RedisError) -> RedisReply {
        try await send(RedisCommand(name, arguments))
    }
}
