import Foundation
import TollgateRedis

/// One `redis-server` shared by the tests of a process that do not stop or pause it.
/// Each test works under its own key prefix (``uniquePrefix(_:)``) and deletes it after.
public actor SharedRedis {
    public static let shared = SharedRedis()
    private var starting: Task<RedisServer, any Error>?

    public func server() async throws -> RedisServer {
        // One start, however many tests ask at once (the actor is re-entered while it awaits).
        if let starting { return try await starting.value }
        let task = Task { try await RedisServer.start() }
        starting = task
        return try await task.value
    }

    public static func server() async throws -> RedisServer { try await shared.server() }
}

/// A fresh key prefix for one test: `t<random>:name`.
public func uniquePrefix(_ name: String = #function) -> String {
    let cleaned = name.prefix { $0 != "(" }
    return "t\(UInt32.random(in: 0...UInt32.max)):\(cleaned)"
}

extension RedisExecutor {
    /// Deletes every key under `prefix` (SCAN + UNLINK), for test clean-up.
    public func deleteKeys(prefix: String) async throws {
        var cursor = "0"
        repeat {
            let reply = try await send("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else { return }
            cursor = next
            let names = keys.compactMap(\.bytes)
            if !names.isEmpty { _ = try await send(RedisCommand("UNLINK", names)) }
        } while cursor != "0"
    }
}
