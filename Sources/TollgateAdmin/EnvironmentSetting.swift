import ArgumentParser
import TollgateRedis

/// A `TOLLGATE_*` variable that gives a flag its default. A flag's default reads
/// ``value`` (nil when the variable is unset, empty or does not parse); the command's
/// `validate()` calls ``validate()``, so a variable that is set but does not parse stops
/// the process at start (exit 64) with one sentence naming it and what it takes, instead
/// of the default applying without a word. A variable that is set is checked even when its
/// flag is given.
public struct EnvironmentSetting<Value: Sendable>: Sendable {
    public let name: String
    public let flag: String
    /// What it takes, as the end of "it takes ...": "an integer from 1 to 65535".
    public let accepts: String
    private let parse: @Sendable (String) -> Value?

    public init(_ name: String, flag: String, accepts: String, parse: @escaping @Sendable (String) -> Value?) {
        self.name = name
        self.flag = flag
        self.accepts = accepts
        self.parse = parse
    }

    public var value: Value? { Environment.value(name).flatMap(parse) }

    public func validate() throws {
        guard let text = Environment.value(name), parse(text) == nil else { return }
        throw ValidationError("\(name)='\(text)' is not valid: it takes \(accepts), as \(flag) does")
    }
}

extension EnvironmentSetting where Value == Int {
    public static func integer(_ name: String, flag: String, in range: ClosedRange<Int>) -> Self {
        Self(name, flag: flag, accepts: "an integer from \(range.lowerBound) to \(range.upperBound)") { text in
            Int(text).flatMap { range.contains($0) ? $0 : nil }
        }
    }
}

extension EnvironmentSetting where Value == String {
    public static func text(_ name: String, flag: String, accepts: String, where valid: @escaping @Sendable (String) -> Bool) -> Self {
        Self(name, flag: flag, accepts: accepts) { valid($0) ? $0 : nil }
    }
}

/// Every `TOLLGATE_*` variable the processes read, with its flag and what it takes
/// (Docs/configuration.md lists them too).
public enum EnvironmentSettings {
    public static let redisURL = EnvironmentSetting.text(
        "TOLLGATE_REDIS_URL", flag: "--redis",
        accepts: "a redis://[user:password@]host:port[/db] or redis+cluster://host:port[,host:port...] URL"
    ) { (try? RedisConnector.parse($0)) != nil }

    public static let keyPrefix = EnvironmentSetting.text(
        "TOLLGATE_KEY_PREFIX", flag: "--prefix", accepts: "a key prefix without braces or spaces", where: isKeyPrefix)

    public static let actor = EnvironmentSetting.text("TOLLGATE_ACTOR", flag: "--actor", accepts: "a name of 1-128 characters") { $0.count <= 128 }

    public static let redisTimeoutMs = EnvironmentSetting.integer("TOLLGATE_REDIS_TIMEOUT_MS", flag: "--redis-timeout-ms", in: 1...60_000)

    public static let port = EnvironmentSetting.integer("TOLLGATE_PORT", flag: "--port", in: 1...65_535)

    public static let host = EnvironmentSetting.text("TOLLGATE_HOST", flag: "--host", accepts: "a host name or IP address without spaces", where: isHost)

    public static let dashboardPort = EnvironmentSetting.integer("TOLLGATE_DASHBOARD_PORT", flag: "--port", in: 1...65_535)

    public static let dashboardHost = EnvironmentSetting.text("TOLLGATE_DASHBOARD_HOST", flag: "--host", accepts: "a host name or IP address without spaces",
                                                              where: isHost)

    public static let adminPort = EnvironmentSetting.integer("TOLLGATE_ADMIN_PORT", flag: "--port", in: 1...65_535)

    public static let adminHost = EnvironmentSetting.text("TOLLGATE_ADMIN_HOST", flag: "--host", accepts: "a host name or IP address without spaces",
                                                          where: isHost)

    public static let promptBodyLimit = EnvironmentSetting.integer("TOLLGATE_PROMPT_BODY_LIMIT", flag: "--prompt-body-limit", in: 1_024...1_073_741_824)

    public static let metricsPort = EnvironmentSetting.integer("TOLLGATE_METRICS_PORT", flag: "--metrics-port", in: 0...65_535)

    public static let webhookURL = EnvironmentSetting.text("TOLLGATE_WEBHOOK_URL", flag: "--webhook", accepts: "an http:// or https:// URL", where: isWebURL)

    public static let logLevel = EnvironmentSetting.text(
        "TOLLGATE_LOG_LEVEL", flag: "--log-level", accepts: "one of \(logLevels.joined(separator: ", "))"
    ) { logLevels.contains($0) }

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    public static func isKeyPrefix(_ prefix: String) -> Bool {
        !prefix.isEmpty && !prefix.contains("{") && !prefix.contains("}") && !prefix.contains(where: \.isWhitespace)
    }

    public static func isHost(_ host: String) -> Bool {
        !host.isEmpty && !host.contains(where: \.isWhitespace)
    }

    public static func isWebURL(_ url: String) -> Bool {
        (url.hasPrefix("http://") || url.hasPrefix("https://")) && !url.contains(where: \.isWhitespace)
    }
}
