import ArgumentParser
import Logging
import TollgateRedis

/// `tollgate ping`: checks that Redis answers, and how fast.
struct PingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Check that Redis answers, and print its version and the round-trip time."
    )

    @OptionGroup var redisOptions: RedisOptions

    func run() async throws {
        var logger = Logger(label: "tollgate")
        logger.logLevel = .error
        let configuration: RedisConfiguration
        do {
            configuration = try redisOptions.configuration(clientName: "tollgate-cli")
        } catch {
            throw ValidationError("\(error)")
        }
        let client = try redisOptions.executor(configuration, logger: logger)
        let clock = ContinuousClock()
        do {
            let started = clock.now
            _ = try await client.send("PING")
            let elapsed = clock.now - started
            let info = try await client.send("INFO", "server").string ?? ""
            let version = info.split(separator: "\r\n").first { $0.hasPrefix("redis_version:") }?.dropFirst("redis_version:".count) ?? "?"
            await client.shutdown()
            print("PONG from \(configuration.endpoint) (Redis \(version)) in \(elapsed.components.attoseconds / 1_000_000_000_000) µs")
        } catch {
            await client.shutdown()
            print("error: Redis at \(configuration.endpoint) did not answer: \(error.message)")
            throw ExitCode(3)
        }
    }
}
