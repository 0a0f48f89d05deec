import ArgumentParser
import Logging
import TollgateAdmin

/// Options of the long-running processes (`serve`, `monitor`): logging, and the clock
/// offset the tests use.
struct ServiceOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (or TOLLGATE_LOG_LEVEL).")
    var logLevel: String = EnvironmentSettings.logLevel.value ?? "info"

    @Flag(help: "Plain-text logs instead of JSON lines.")
    var plainLogs = false

    @Option(help: ArgumentHelp("Milliseconds added to Redis' clock in every script (testing only).", visibility: .hidden))
    var clockOffsetMs: Int64 = 0

    func validate() throws {
        try EnvironmentSettings.logLevel.validate()
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
    }

    /// Installs the process's log handler: JSON lines on standard error unless --plain-logs.
    func bootstrapLogging() {
        JSONLogHandler.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info, json: !plainLogs)
    }
}
