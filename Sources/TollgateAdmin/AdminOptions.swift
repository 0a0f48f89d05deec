import ArgumentParser
import Foundation
import TollgateRedis

/// Options every admin command shares: where Redis is, who is acting, how to print.
public struct AdminOptions: ParsableArguments {
    @Option(name: .long, help: "Redis URL: redis://[user:password@]host:port[/db], or redis+cluster://host:port[,host:port...] (or TOLLGATE_REDIS_URL).")
    public var redis: String = EnvironmentSettings.redisURL.value ?? "redis://127.0.0.1:6379"

    @Option(name: .long, help: "Prefix of every Redis key of this deployment (or TOLLGATE_KEY_PREFIX).")
    public var prefix: String = EnvironmentSettings.keyPrefix.value ?? "tg"

    @Option(name: .long, help: "Who makes the change, for the audit log (or TOLLGATE_ACTOR; default: $USER).")
    public var actor: String = EnvironmentSettings.actor.value ?? Environment.value("USER") ?? "admin"

    @Flag(name: .long, help: "Print JSON.")
    public var json = false

    @Flag(name: .long, help: "Print CSV.")
    public var csv = false

    public init() {}

    public func validate() throws {
        try EnvironmentSettings.actor.validate()
        try Self.validate(redis: redis, prefix: prefix)
        guard !(json && csv) else { throw ValidationError("choose one of --json and --csv") }
        guard !actor.isEmpty, actor.count <= 128 else { throw ValidationError("--actor must be 1-128 characters") }
    }

    var format: OutputFormat { json ? .json : csv ? .csv : .table }

    /// Checks a `--redis` URL and a `--prefix`: shared by every command that names them.
    public static func validate(redis: String, prefix: String) throws {
        try EnvironmentSettings.redisURL.validate()
        try EnvironmentSettings.keyPrefix.validate()
        do {
            _ = try RedisConnector.parse(redis)
        } catch {
            throw ValidationError(error.message)
        }
        guard EnvironmentSettings.isKeyPrefix(prefix) else {
            throw ValidationError("--prefix must be non-empty, without braces or spaces")
        }
    }
}

/// Process environment, read once.
public enum Environment {
    public static func value(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }
}

/// Documented exit codes of the CLI.
public enum AdminExit {
    /// Invalid arguments or input; nothing was written (ArgumentParser's usage code).
    public static let invalid = ExitCode(64)
    /// The change was refused: an unknown or duplicate id, a tier still in use, a conflict.
    public static let refused = ExitCode(65)
    /// Redis could not be reached.
    public static let unavailable = ExitCode(69)
    /// Anything else.
    public static let failure = ExitCode(70)
}

/// An error with one clear sentence and an exit code.
public struct AdminError: Error, CustomStringConvertible {
    public let description: String
    public let exit: ExitCode

    public init(_ description: String, exit: ExitCode = AdminExit.refused) {
        self.description = description
        self.exit = exit
    }

    static func invalid(_ description: String) -> AdminError { AdminError(description, exit: AdminExit.invalid) }
}
