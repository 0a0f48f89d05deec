import Glibc
import Synchronization
import Testing
import TollgateRedis

/// What one test leaves behind — key prefixes (``uniquePrefix(_:)``) and processes
/// (``ChildProcess``, so every ``GatewayProcess``) — cleaned up when the test ends, also
/// when it fails halfway (a thrown error, a failed `#require`). Suites opt in with the
/// ``Testing/Trait/cleansUp`` trait; a test's own clean-up at its end stays, and this one then
/// finds nothing left.
public final class TestLeftovers: Sendable {
    @TaskLocal static var current: TestLeftovers?

    private let state = Mutex<(prefixes: [String], processes: [ChildProcess])>(([], []))

    static func register(prefix: String) { current?.state.withLock { $0.prefixes.append(prefix) } }
    static func register(_ process: ChildProcess) { current?.state.withLock { $0.processes.append(process) } }

    /// Stops the processes still running (SIGTERM, then SIGKILL after 10 s), then deletes every
    /// key under the prefixes on the shared Redis (or cluster), if the test run started one.
    func cleanUp() async {
        let (prefixes, processes) = state.withLock { ($0.prefixes, $0.processes) }
        for process in processes where ServerRegistry.contains(process.pid) {
            process.signal(SIGCONT)
            process.signal(SIGTERM)
            _ = await process.wait(timeout: .seconds(10))
        }
        guard !prefixes.isEmpty, let client = await TestRedis.existingClient() else { return }
        for prefix in prefixes { try? await client.deleteKeys(prefix: prefix + ":") }
        await client.shutdown()
    }
}

/// See ``TestLeftovers``.
public struct CleansUpTrait: SuiteTrait, TestTrait, TestScoping {
    public init() {}

    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        // Once per test function (a parameterised one: once for all its cases).
        guard !test.isSuite, TestLeftovers.current == nil else { return try await function() }
        let leftovers = TestLeftovers()
        do {
            try await TestLeftovers.$current.withValue(leftovers) { try await function() }
        } catch {
            await leftovers.cleanUp()
            throw error
        }
        await leftovers.cleanUp()
    }
}

extension Trait where Self == CleansUpTrait {
    /// Each test's key prefixes and processes are cleaned up when it ends, passed or failed.
    public static var cleansUp: Self { CleansUpTrait() }
}
