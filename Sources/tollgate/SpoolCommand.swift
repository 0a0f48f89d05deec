import ArgumentParser
import Foundation
import Logging
import TollgateAdmin
import TollgateGateway
import TollgateRedis

/// `tollgate spool ...`: a gateway's spool of calls that could not reach Redis.
struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Work with a gateway's spool of commits, records and releases that could not reach Redis.",
        subcommands: [Replay.self]
    )

    /// `tollgate spool replay FILE`
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "Apply the spool of a gateway that is not running (one that will not come back), then remove it.",
            discussion: """
                Refuses a spool that a running gateway owns (it replays its spool itself). Replaying is \
                idempotent: an entry already applied is not charged again. Entries that can never be applied \
                go to FILE.dead. Exit status 0 when the spool is drained, 69 when Redis failed midway (run again).
                """
        )

        @OptionGroup var redisOptions: RedisOptions

        @Argument(help: "The spool file: the gateway's --spool (default tollgate-spool-<node or port>.jsonl).")
        var file: String

        func validate() throws {
            let manager = FileManager.default
            guard manager.fileExists(atPath: file) || manager.fileExists(atPath: file + ".replaying") else {
                throw ValidationError("there is no spool at \(file) (nor \(file).replaying)")
            }
        }

        func run() async throws {
            var logger = Logger(label: "tollgate.spool")
            logger.logLevel = .error
            let configuration: RedisConfiguration
            do {
                configuration = try redisOptions.configuration(clientName: "tollgate-spool")
            } catch {
                throw ValidationError("\(error)")
            }
            let redis = try redisOptions.executor(configuration, logger: logger)
            let outcome: (report: SpoolReplayReport, removed: Bool)
            do {
                outcome = try await SpoolDrain(path: file, redis: redis, keyPrefix: redisOptions.prefix, logger: logger).run()
                await redis.shutdown()
            } catch let error as SpoolError {
                await redis.shutdown()
                Self.fail(error.description + (error.code == .inUse ? "; that gateway replays its spool itself" : ""))
                throw error.code == .inUse ? AdminExit.refused : AdminExit.failure
            } catch {
                await redis.shutdown()
                Self.fail("cannot read the configuration from Redis at \(configuration.endpoint): \((error as? RedisError)?.message ?? "\(error)")")
                throw AdminExit.unavailable
            }
            let report = outcome.report
            var summary = "\(file): \(report.applied) entries applied"
            if report.deadLettered + report.unreadable > 0 {
                summary += ", \(report.deadLettered + report.unreadable) set aside in \(file).dead"
            }
            if let interruption = report.interruption {
                print(summary)
                Self.fail("the replay stopped: \(interruption); the rest stays in \(file).replaying, run this again")
                throw AdminExit.unavailable
            }
            print(summary + (outcome.removed ? "; the spool is drained and removed" : ""))
        }

        static func fail(_ sentence: String) {
            FileHandle.standardError.write(Data("error: \(sentence)\n".utf8))
        }
    }
}
