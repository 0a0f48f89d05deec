import Logging
import Synchronization

/// A client for one Redis server: a few connections, each owned by its own thread, shared
/// by every task in the process. Concurrent commands are pipelined automatically.
public final class RedisClient: RedisExecutor {
    public let configuration: RedisConfiguration
    private let connections: [RedisConnection]
    private let nextConnection = Atomic<Int>(0)

    public init(configuration: RedisConfiguration, logger: Logger) {
        self.configuration = configuration
        connections = (0..<configuration.connectionCount).map { index in
            RedisConnection(configuration: configuration, index: index, logger: logger)
        }
    }

    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisReply {
        var result = await sendOnce(command)
        if case .failure(let error) = result, error.isNoScript, let script = command.script {
            let retried = await pipelineOnce([.scriptLoad(script), command])
            if case .failure(let loadError) = retried[0] { throw loadError }
            result = retried[1]
        }
        return try result.get()
    }

    public func pipeline(_ commands: [RedisCommand]) async -> [Result<RedisReply, RedisError>] {
        var results = await pipelineOnce(commands)
        let missing = results.indices.filter { index in
            if case .failure(let error) = results[index], error.isNoScript, commands[index].script != nil { return true }
            return false
        }
        guard !missing.isEmpty else { return results }

        var scripts: [RedisScript] = []
        for index in missing where !scripts.contains(commands[index].script!) { scripts.append(commands[index].script!) }
        let retried = await pipelineOnce(scripts.map(RedisCommand.scriptLoad) + missing.map { commands[$0] })
        for (offset, index) in missing.enumerated() { results[index] = retried[scripts.count + offset] }
        return results
    }

    /// Commands written and the batches they went out in, over all connections.
    public var statistics: RedisClientStatistics {
        RedisClientStatistics(
            commands: connections.reduce(0) { $0 + $1.commandsWritten.load(ordering: .relaxed) },
            writes: connections.reduce(0) { $0 + $1.batchesWritten.load(ordering: .relaxed) })
    }

    public func shutdown() async {
        for connection in connections { await connection.shutdown() }
    }

    // MARK: Plumbing

    private func pickConnection() -> RedisConnection {
        connections[nextConnection.wrappingAdd(1, ordering: .relaxed).oldValue % connections.count]
    }

    private func deadline(for commands: some Sequence<RedisCommand>) -> UInt64 {
        let timeout = commands.map { $0.timeout ?? configuration.commandTimeout }.max() ?? configuration.commandTimeout
        return MonotonicClock.now() + timeout.nanoseconds
    }

    private func sendOnce(_ command: RedisCommand) async -> Result<RedisReply, RedisError> {
        let deadline = deadline(for: CollectionOfOne(command))
        let connection = pickConnection()
        return await withCheckedContinuation { continuation in
            let pending = PendingCommand(command: command, deadline: deadline, completion: .single(continuation))
            if !connection.enqueue(pending) {
                continuation.resume(returning: .failure(Self.closed))
            }
        }
    }

    private func pipelineOnce(_ commands: [RedisCommand]) async -> [Result<RedisReply, RedisError>] {
        guard !commands.isEmpty else { return [] }
        let deadline = deadline(for: commands)
        let connection = pickConnection()
        return await withCheckedContinuation { continuation in
            let collector = PipelineCollector(count: commands.count, continuation: continuation)
            let pending = commands.enumerated().map { index, command in
                PendingCommand(command: command, deadline: deadline, completion: .pipeline(collector, index: index))
            }
            if !connection.enqueue(pending) {
                continuation.resume(returning: Array(repeating: .failure(Self.closed), count: commands.count))
            }
        }
    }

    private static let closed = RedisError(.clientClosed, "the Redis client was shut down", delivery: .notSent)
}

public struct RedisClientStatistics: Sendable, Equatable {
    public var commands: Int
    public var writes: Int
    public var averageBatch: Double { writes == 0 ? 0 : Double(commands) / Double(writes) }
}
