import Foundation
import Glibc
import Synchronization
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// The `.cleansUp` trait itself: a test that fails halfway leaves no process and no key.
/// (Not in a `.cleansUp` suite: the trait runs here on purpose, around a failing body.)
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"))
struct TestLeftoversTests {
    struct Halfway: Error {}

    @Test func aTestThatFailsHalfwayLeavesNoProcessAndNoKey() async throws {
        let redis = try await TestRedis.client()
        let test = try #require(Test.current)
        let started = Started()
        await #expect(throws: Halfway.self) {
            try await CleansUpTrait().provideScope(for: test, testCase: nil) {
                let prefix = uniquePrefix()
                try await MultiNodeTests.writeConfiguration(GatewayFixture.configuration(), redis: redis, prefix: prefix)
                let gateway = try await GatewayProcess(redisURL: try await TestRedis.url(), prefix: prefix, name: "leftover")
                started.set(prefix: prefix, pid: gateway.process.pid)
                throw Halfway()
            }
        }
        let (prefix, pid) = try #require(started.value)
        #expect(kill(pid, 0) != 0, "the gateway process is gone")
        #expect(try await redis.allKeys(prefix: prefix + ":").isEmpty, "its keys are deleted")
        await redis.shutdown()
    }
}

final class Started: Sendable {
    private let state = Mutex<(String, pid_t)?>(nil)
    func set(prefix: String, pid: pid_t) { state.withLock { $0 = (prefix, pid) } }
    var value: (String, pid_t)? { state.withLock { $0 } }
}
