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

    /// The server, if this test process started it (nil otherwise: nothing starts one).
    func startedServer() async -> RedisServer? {
        guard let starting else { return nil }
        return try? await starting.value
    }
}

/// A fresh key prefix for one test: `t<random>:name`.
public func uniquePrefix(_ name: String = #function) -> String {
    let cleaned = name.prefix { $0 != "(" }
    let prefix = "t\(UInt32.random(in: 0...UInt32.max)):\(cleaned)"
    TestLeftovers.register(prefix: prefix)
    return prefix
}

extension RedisExecutor {
    /// Deletes every key under `prefix` (SCAN + UNLINK), for test clean-up.
    public func deleteKeys(prefix: String) async throws {
        for node in await nodes() {
            for name in try await node.scanKeys(prefix: prefix) { _ = try await send(.keyed("UNLINK", name)) }
        }
    }

    /// Every key under `prefix` on this node (SCAN).
    public func scanKeys(prefix: String) async throws -> [[UInt8]] {
        var names: [[UInt8]] = []
        var cursor = "0"
        repeat {
            let reply = try await send("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else { break }
            cursor = next
            names += keys.compactMap(\.bytes)
        } while cursor != "0"
        return names
    }

    /// Every key under `prefix` on every node of this client.
    public func allKeys(prefix: String) async throws -> [String] {
        var names: [String] = []
        for node in await nodes() { names += try await node.scanKeys(prefix: prefix).map { String(decoding: $0, as: UTF8.self) } }
        return names
    }
}
