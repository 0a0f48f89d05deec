import Foundation
import RedisTestSupport
import Testing
@testable import TollgateRedis

/// The client's time bounds: a call fails within its timeout, never hangs. Each bound is the
/// timeout plus ``schedulingSlack``; `Scripts/test.sh` runs this suite on its own, because with
/// every other suite beside it on two cores the client's thread waited its turn for over a
/// second (1.2-1.5 s against 1.2-1.3 s bounds in four fresh-clone runs), which says nothing
/// about the client.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct ClientTimeoutTests {
    @Test func pausedServerFailsWithinTheTimeout() async throws {
        let server = try await RedisServer.start()
        let timeout = Duration.milliseconds(200)
        let client = server.client(timeout: timeout)
        #expect(try await client.send("PING") == .status("PONG"))

        server.pause()
        let clock = ContinuousClock()
        let started = clock.now
        do {
            _ = try await client.send("PING")
            Issue.record("a paused Redis answered")
        } catch {
            #expect(error.code == .timeout)
            #expect(error.delivery == .unknown)
        }
        let elapsed = clock.now - started
        #expect(elapsed >= .milliseconds(150))
        #expect(elapsed < timeout + schedulingSlack, "took \(elapsed)")

        // Concurrent callers all give up in time too, none hangs.
        let outcomes = await withTaskGroup(of: Duration.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    let start = clock.now
                    _ = try? await client.send("PING")
                    return clock.now - start
                }
            }
            return await group.reduce(into: [Duration]()) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0 < timeout + schedulingSlack }, "slowest \(outcomes.max() ?? .zero)")

        server.resume()
        try await eventually { try await client.send("PING") == .status("PONG") }
        await client.shutdown()
        await server.stop()
    }

    @Test func reconnectsAfterTheServerRestarts() async throws {
        let server = try await RedisServer.start(.init(appendOnly: true))
        let timeout = Duration.milliseconds(300)
        let client = server.client(timeout: timeout)
        _ = try await client.send("SET", "survivor", "1")

        await server.stop()
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: RedisError.self) { try await client.send("GET", "survivor") }
        #expect(clock.now - started < timeout + schedulingSlack)

        try await server.restart()
        try await eventually { try await client.send("GET", "survivor").string == "1" }
        #expect(try await client.send("INCR", "survivor") == .integer(2))
        await client.shutdown()
        await server.stop()
    }

    @Test func unreachableServerFailsFastAsNotSent() async throws {
        let port = try RedisServer.freeLoopbackPort()
        let timeout = Duration.milliseconds(200)
        let client = RedisClient(
            configuration: RedisConfiguration(endpoint: RedisEndpoint(port: port), connectTimeout: timeout, commandTimeout: timeout),
            logger: .quiet)
        let clock = ContinuousClock()
        for _ in 0..<3 {
            let started = clock.now
            do {
                _ = try await client.send("PING")
                Issue.record("nothing listens there")
            } catch {
                #expect(error.code == .notConnected)
                #expect(error.delivery == .notSent)
            }
            #expect(clock.now - started < timeout + schedulingSlack, "took \(clock.now - started)")
        }
        await client.shutdown()
    }
}
