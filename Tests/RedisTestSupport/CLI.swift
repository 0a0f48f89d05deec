import Foundation
import Testing
import TollgateCore
import TollgateRedis

/// Runs the real `tollgate` executable against a Redis under a fresh prefix.
public struct CLI: Sendable {
    public let redisURL: String
    public let prefix: String

    public init(redisURL: String, prefix: String) {
        self.redisURL = redisURL
        self.prefix = prefix
    }

    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        public var errors: String
    }

    /// Runs `tollgate` with `arguments`; `environment` adds to (or replaces) the variables
    /// naming this CLI's Redis, prefix and actor.
    @discardableResult
    public func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], timeout: Duration = .seconds(60)) async throws -> Result {
        let base = ["TOLLGATE_REDIS_URL": redisURL, "TOLLGATE_KEY_PREFIX": prefix, "TOLLGATE_ACTOR": "tester"]
        let process = try ChildProcess(try ChildProcess.executable("tollgate"), arguments,
                                       environment: base.merging(environment) { $1 }, separateErrors: true)
        let status = await process.wait(timeout: timeout)
        return Result(status: status, output: process.output, errors: process.errors)
    }

    /// Runs and expects success.
    @discardableResult
    public func ok(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let result = try await run(arguments)
        #expect(result.status == 0, "tollgate \(arguments.joined(separator: " ")) → \(result.status): \(result.errors)", sourceLocation: sourceLocation)
        return result.output
    }

    /// The stored configuration version (0 if none).
    public func version(_ redis: any RedisExecutor) async throws -> Int64 {
        try await redis.send("GET", "\(prefix):{cfg}:version").int ?? 0
    }

    /// The stored configuration with every customer record in it (the `config export` view).
    public func configuration(_ redis: any RedisExecutor) async throws -> TollgateConfiguration {
        let keys = KeyLayout(prefix: prefix)
        let document = try await ConfigurationStore(redis: redis, keys: keys).load().configuration
        return try await CustomerStore(redis: redis, keys: keys, currency: document.settings.currency).allCustomers(in: document)
    }

    public static func make(name: String = #function) async throws -> (CLI, any RedisExecutor) {
        (CLI(redisURL: try await TestRedis.url(), prefix: uniquePrefix(name)), try await TestRedis.client())
    }
}
