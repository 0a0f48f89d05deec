import Foundation

/// `TOLLGATE_*` environment variables.
enum ProcessEnvironment {
    static func value(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    static var redisURL: String { value("TOLLGATE_REDIS_URL") ?? "redis://127.0.0.1:6379" }
}
