import ArgumentParser
import Logging
import TollgateRedis

/// EVALSHA of a one-key INCRBY+PEXPIRE script through our client, at several concurrencies.
struct RedisClientBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-client",
        abstract: "EVALSHA throughput and latency of the Redis client (one-key INCRBY+PEXPIRE script)."
    )

    static let script = RedisScript(name: "incr-expire", source: """
        local value = redis.call('INCRBY', KEYS[1], ARGV[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return value
        """)

    @Option(help: "Redis URL.") var url = "redis://127.0.0.1:6379"
    @Option(help: "Concurrent callers, comma-separated.") var concurrency = "1,64"
    @Option(help: "Connections in the client's pool.") var connections = 2
    @Option(help: "Calls per run.") var requests = 200_000
    @Option(help: "Longest run, seconds.") var seconds = 20
    @Option(help: "Distinct keys, like redis-benchmark -r.") var keyspace = 10_000

    func run() async throws {
        var logger = Logger(label: "tollgate.bench")
        logger.logLevel = .warning
        var configuration = try RedisConfiguration(url: url)
        configuration.connectionCount = connections
        configuration.commandTimeout = .seconds(5)
        let client = RedisClient(configuration: configuration, logger: logger)
        print("script_sha=\(Self.script.sha1)")
        _ = try await client.send(.scriptLoad(Self.script))

        for level in concurrency.split(separator: ",").compactMap({ Int($0) }) {
            // Short warm-up, then the measured run.
            _ = await measure(concurrency: level, total: min(requests, 5_000), limit: .seconds(5)) { index in
                await Self.call(client, key: index % keyspace)
            }
            let before = client.statistics
            let summary = await measure(concurrency: level, total: requests, limit: .seconds(seconds)) { index in
                await Self.call(client, key: (index &* 7919) % keyspace)
            }
            let after = client.statistics
            let batch = Double(after.commands - before.commands) / Double(max(1, after.writes - before.writes))
            print(summary.line("tollgate-client", concurrency: level, extra: "connections=\(connections) avg_batch=\(String(format1(batch)))"))
        }
        await client.shutdown()
    }

    static func call(_ client: RedisClient, key: Int) async -> Bool {
        // Same key pattern as redis-benchmark's `bench:key:__rand_int__` with -r.
        let name = "bench:key:" + String(repeating: "0", count: max(0, 12 - String(key).count)) + String(key)
        return (try? await client.run(script, keys: [name], arguments: [1, 60_000])) != nil
    }
}

func format1(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}
