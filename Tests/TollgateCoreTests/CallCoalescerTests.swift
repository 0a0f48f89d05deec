import Foundation
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// The gateway's coalescer (CallCoalescer) against a real Redis that stops answering.
@Suite(.serialized) struct CallCoalescerTests {
    /// With Redis paused, the calls waiting behind the two in flight are not sent one batch
    /// after another, each batch waiting out its own timeout: when the first call times out,
    /// every waiting call fails at once as not sent (so a commit goes to the spool now). After
    /// Redis is back, the lane works again (no place leaked).
    @Test func callsWaitingBehindATimeoutFailAtOnceAsNotSent() async throws {
        let fixture = try await EngineFixture.make()
        let server = try await RedisServer.start()
        let timeout = Duration.milliseconds(250)
        let client = server.client(connections: 2, timeout: timeout)
        let engine = QuotaEngine(redis: client, keys: fixture.keys, scripts: fixture.engine.scripts, coalescer: CallCoalescer(redis: client))
        let plan = try fixture.plan()
        let price = try fixture.price()
        func reserve(_ id: String) async -> Result<ReserveDecision, EngineError> {
            do {
                return .success(try await engine.reserve(ReserveRequest(requestID: id, model: "test-model", inputTokens: 10, maxOutputTokens: 0),
                                                         plan: plan, price: price, settings: fixture.settings))
            } catch {
                return .failure(error)
            }
        }
        // Outside the stall, a call may still miss the short timeout on a loaded machine: a few tries.
        func reserveSoon(_ id: String) async throws -> ReserveDecision {
            for _ in 0..<4 {
                if case .success(let decision) = await reserve(id) { return decision }
                try await Task.sleep(for: .milliseconds(200))
            }
            return try await reserve(id).get()
        }
        #expect(try await reserveSoon("warm").hold != nil)

        server.pause()
        let started = ContinuousClock.now
        let results = await withTaskGroup(of: Result<ReserveDecision, EngineError>.self) { group in
            for index in 0..<200 { group.addTask { await reserve("r\(index)") } }
            return await group.reduce(into: [Result<ReserveDecision, EngineError>]()) { $0.append($1) }
        }
        let elapsed = ContinuousClock.now - started
        server.resume()
        let errors = results.compactMap { result -> EngineError? in if case .failure(let error) = result { error } else { nil } }
        #expect(errors.count == 200)
        // The waiting calls were never sent: they failed with the first timeout, not one batch
        // of 64 after another, each waiting out its own (without this, none is "not sent"). The
        // time bound only catches a hang: CI runs this beside other suites on two cores.
        let notSent = errors.filter { $0.redis?.delivery == .notSent }.count
        #expect(notSent >= 190, "\(notSent) of 200 failed as not sent")
        #expect(elapsed < timeout * 4 + schedulingSlack * 2, "200 calls took \(elapsed) to fail")
        #expect(errors.allSatisfy { $0.redis?.isUnavailable == true })

        #expect(try await reserveSoon("after").hold != nil)
        await client.shutdown()
        await server.stop()
        try await fixture.cleanUp()
    }
}
