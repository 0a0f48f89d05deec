import Logging
import RedisTestSupport
import ServiceLifecycle
import Synchronization
import Testing
@testable import TollgateGateway

/// The queue proxied calls' commits run on after their answers: the caller never waits for
/// queued work, and a graceful shutdown runs everything queued before it ends.
@Suite struct SettlementQueueTests {
    @Test func workRunsInlineWhileTheQueueIsNotRunning() async {
        let queue = SettlementQueue()
        let done = Atomic(0)
        await queue.settle { done.add(1, ordering: .relaxed) }
        #expect(done.load(ordering: .relaxed) == 1, "settled before settle returned")
    }

    @Test func queuedWorkDoesNotHoldTheCallerAndFinishesBeforeShutdownEnds() async throws {
        let queue = SettlementQueue()
        let group = ServiceGroup(services: [queue], logger: .quiet)
        let done = Atomic(0)
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let deadline = ContinuousClock.now + .seconds(5) + schedulingSlack
            while !queue.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            try #require(queue.isRunning)
            for _ in 0..<10 {
                // Each waits for the gate: a settle that waited for its work would never return.
                await queue.settle {
                    for await _ in gate {}
                    done.add(1, ordering: .relaxed)
                }
            }
            #expect(done.load(ordering: .relaxed) == 0, "no settle waited for its work")
            await group.triggerGracefulShutdown()
            open.finish()
            try await tasks.next()
            #expect(done.load(ordering: .relaxed) == 10, "the shutdown ran every queued settlement before it ended")
            #expect(!queue.isRunning)
        }
    }
}
