import Foundation

/// `TOLLGATE_*` environment variables, read once.
enum ProcessEnvironment {
    static let redisURL = ProcessInfo.processInfo.environment["TOLLGATE_REDIS_URL"] ?? "redis://127.0.0.1:6379"
}
