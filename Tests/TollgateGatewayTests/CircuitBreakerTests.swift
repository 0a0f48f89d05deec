import Synchronization
import Testing
@testable import TollgateCore
@testable import TollgateGateway
import TollgateRedis

/// The breaker's state machine and its `run` wrapper, without I/O: time is an argument, and
/// calls are closures that answer, throw or wait as the test says.
struct CircuitBreakerStateMachineTests {
    let start = ContinuousClock.now
    let cooldown = Duration.seconds(1)

    /// A machine that has just opened (threshold 2).
    func opened() -> CircuitBreakerStateMachine {
        var machine = CircuitBreakerStateMachine(threshold: 2, cooldown: cooldown)
        for _ in 0..<2 {
            let admission = machine.admit(at: start)
            machine.record(.unavailable, of: admission, at: start)
        }
        return machine
    }

    @Test func opensAfterThresholdConsecutiveUnavailableOutcomes() {
        var machine = CircuitBreakerStateMachine(threshold: 3, cooldown: cooldown)
        for _ in 0..<2 { machine.record(.unavailable, of: machine.admit(at: start), at: start) }
        #expect(machine.state == .closed(failures: 2))
        // An answer, even an error about the request, resets the count.
        machine.record(.reachable, of: machine.admit(at: start), at: start)
        #expect(machine.state == .closed(failures: 0))
        for _ in 0..<3 { machine.record(.unavailable, of: machine.admit(at: start), at: start) }
        #expect(machine.state == .open(until: start + cooldown))
        #expect(machine.gaugeValue == 2)
        #expect(machine.admit(at: start + .milliseconds(999)) == .refused)
    }

    @Test func oneProbeAfterTheCooldownAndEveryOtherCallerRefused() {
        var machine = opened()
        #expect(!machine.wouldAdmit(at: start + .milliseconds(500)))
        #expect(machine.wouldAdmit(at: start + cooldown))
        #expect(machine.admit(at: start + cooldown) == .probe)
        #expect(machine.state == .halfOpen)
        #expect(machine.gaugeValue == 1)
        for _ in 0..<5 { #expect(machine.admit(at: start + cooldown) == .refused) }
        #expect(!machine.wouldAdmit(at: start + .seconds(10)))
    }

    @Test(arguments: [CircuitBreakerStateMachine.Outcome.success, .reachable])
    func aProbeThatRedisAnsweredClosesTheBreaker(_ outcome: CircuitBreakerStateMachine.Outcome) {
        var machine = opened()
        let probe = machine.admit(at: start + cooldown)
        machine.record(outcome, of: probe, at: start + cooldown)
        #expect(machine.state == .closed(failures: 0))
        #expect(machine.admit(at: start + cooldown) == .call)
    }

    @Test func aProbeThatFindsRedisUnavailableReopensForAnotherCooldown() {
        var machine = opened()
        let probedAt = start + .milliseconds(1_500)
        let probe = machine.admit(at: probedAt)
        machine.record(.unavailable, of: probe, at: probedAt + .milliseconds(300))
        #expect(machine.state == .open(until: probedAt + .milliseconds(300) + cooldown))
        #expect(machine.admit(at: probedAt + .milliseconds(400)) == .refused)
    }

    @Test func aCancelledProbeHandsTheSlotToTheNextCallerAtOnce() {
        var machine = opened()
        let probe = machine.admit(at: start + cooldown)
        machine.record(.cancelled, of: probe, at: start + cooldown + .milliseconds(10))
        #expect(machine.state == .open(until: start + cooldown + .milliseconds(10)))
        #expect(machine.admit(at: start + cooldown + .milliseconds(10)) == .probe)
    }

    @Test func lateOutcomesOfCallsAdmittedBeforeTheBreakerOpenedDecideNothing() {
        var machine = CircuitBreakerStateMachine(threshold: 1, cooldown: cooldown)
        let early = machine.admit(at: start)
        let late = machine.admit(at: start)
        machine.record(.unavailable, of: early, at: start)
        #expect(machine.state == .open(until: start + cooldown))
        machine.record(.success, of: late, at: start)
        #expect(machine.state == .open(until: start + cooldown))
        let probe = machine.admit(at: start + cooldown)
        machine.record(.unavailable, of: late, at: start + cooldown)
        #expect(machine.state == .halfOpen, "only the probe decides a half-open breaker")
        machine.record(.success, of: probe, at: start + cooldown)
        #expect(machine.state == .closed(failures: 0))
    }

    @Test func aCancelledCallChangesNoCount() {
        var machine = CircuitBreakerStateMachine(threshold: 2, cooldown: cooldown)
        machine.record(.unavailable, of: machine.admit(at: start), at: start)
        machine.record(.cancelled, of: machine.admit(at: start), at: start)
        #expect(machine.state == .closed(failures: 1))
    }
}

/// Values recorded from several tasks, in order.
final class GaugeLog: Sendable {
    let values = Mutex<[Int]>([])
}

/// `CircuitBreaker.run`: every admitted call records exactly one outcome, whatever it ends with.
struct CircuitBreakerRunTests {
    static let timeout = RedisError(.timeout, "no reply within 300 ms", delivery: .unknown)

    /// A breaker (threshold 1, 50 ms cooldown) opened by one timeout, its cooldown over.
    static func openedBreaker(changes: GaugeLog? = nil) async throws -> CircuitBreaker {
        let breaker = CircuitBreaker(threshold: 1, cooldown: .milliseconds(50)) { _, after in
            changes?.values.withLock { $0.append(CircuitBreakerStateMachine.gaugeValue(of: after)) }
        }
        await #expect(throws: RedisError.self) { try await breaker.run { () async throws -> Int in throw timeout } }
        #expect(breaker.state != .closed(failures: 0))
        await #expect(throws: CircuitBreaker.OpenError.self) { try await breaker.run { 1 } }
        try await Task.sleep(for: .milliseconds(60))
        return breaker
    }

    @Test(arguments: ["OOM command not allowed when used memory > 'maxmemory'.",
                      "NOPERM User tollgate has no permissions to run the 'evalsha' command",
                      "ERR Error running script: attempt to compare nil with number",
                      "NOSCRIPT No matching script. Please use EVAL."])
    func aProbeAnsweredWithAnErrorClosesTheBreaker(_ reply: String) async throws {
        // The bug of issue 11: an OOM or NOPERM answer to the probe left the breaker half-open for good.
        let breaker = try await Self.openedBreaker()
        await #expect(throws: EngineError.self) {
            try await breaker.run { () async throws -> Int in throw EngineError(kind: .redis, message: reply, redis: .server(reply)) }
        }
        #expect(breaker.state == .closed(failures: 0))
        #expect(try await breaker.run { 7 } == 7)
    }

    @Test(arguments: ["LOADING Redis is loading the dataset in memory", "BUSY Redis is busy running a script.", "MASTERDOWN Link with MASTER is down"])
    func aProbeAnsweredThatRedisCannotServeReopensIt(_ reply: String) async throws {
        let breaker = try await Self.openedBreaker()
        await #expect(throws: RedisError.self) { try await breaker.run { () async throws -> Int in throw RedisError.server(reply) } }
        guard case .open = breaker.state else { Issue.record("state \(breaker.state)"); return }
    }

    @Test func aCancelledProbeReleasesTheHalfOpenSlot() async throws {
        let breaker = try await Self.openedBreaker()
        let probe = Task {
            try await breaker.run { () async throws -> Int in
                try await Task.sleep(for: .seconds(30))
                return 1
            }
        }
        // Wait until the probe holds the slot (bounded: 10 s).
        for _ in 0..<2_000 where breaker.state != .halfOpen { try await Task.sleep(for: .milliseconds(5)) }
        #expect(breaker.state == .halfOpen)
        probe.cancel()
        await #expect(throws: CancellationError.self) { try await probe.value }
        #expect(breaker.wouldAdmit)
        #expect(try await breaker.run { 2 } == 2)
        #expect(breaker.state == .closed(failures: 0))
    }

    @Test func concurrentCallersInHalfOpenAreRefusedWhileTheOneProbeRuns() async throws {
        let changes = GaugeLog()
        let breaker = try await Self.openedBreaker(changes: changes)
        let (gate, opener) = AsyncStream<Void>.makeStream()
        let (entered, enter) = AsyncStream<Void>.makeStream()
        let calls = GaugeLog()
        let outcomes = await withTaskGroup(of: String.self) { group in
            group.addTask {
                do {
                    return try await breaker.run {
                        calls.values.withLock { $0.append(1) }
                        enter.yield()
                        for await _ in gate { break }
                        return "probe answered"
                    }
                } catch {
                    return "probe failed: \(error)"
                }
            }
            // The probe holds the slot (however slowly its task got scheduled).
            for await _ in entered { break }
            // 32 callers at once while the probe is in flight: none reaches Redis.
            for _ in 0..<32 {
                group.addTask {
                    do {
                        return try await breaker.run {
                            calls.values.withLock { $0.append(1) }
                            return "admitted"
                        }
                    } catch is CircuitBreaker.OpenError {
                        return "refused"
                    } catch {
                        return "\(error)"
                    }
                }
            }
            var outcomes: [String] = []
            for _ in 0..<32 { outcomes.append(await group.next() ?? "none") }
            opener.yield()
            outcomes.append(await group.next() ?? "none")
            return outcomes
        }
        #expect(outcomes.filter { $0 == "refused" }.count == 32)
        #expect(outcomes.last == "probe answered")
        #expect(calls.values.withLock { $0.count } == 1, "only the probe reached Redis")
        #expect(breaker.state == .closed(failures: 0))
        // The gauge saw every state: open, half-open, closed.
        #expect(changes.values.withLock { $0 } == [2, 1, 0])
    }
}

/// The one classification of Redis errors.
struct RedisErrorAvailabilityTests {
    @Test(arguments: [
        (RedisError(.notConnected, "connect failed", delivery: .notSent), RedisError.Availability.unreachable),
        (RedisError(.timeout, "no reply", delivery: .unknown), .unreachable),
        (RedisError(.connectionLost, "EOF", delivery: .unknown), .unreachable),
        (RedisError(.authenticationFailed, "WRONGPASS", delivery: .answered), .unreachable),
        (RedisError.server("LOADING Redis is loading the dataset in memory"), .temporarilyUnavailable),
        (RedisError.server("BUSY Redis is busy running a script."), .temporarilyUnavailable),
        (RedisError.server("TRYAGAIN Multiple keys request during rehashing of slot"), .temporarilyUnavailable),
        (RedisError.server("CLUSTERDOWN The cluster is down"), .temporarilyUnavailable),
        (RedisError.server("READONLY You can't write against a read only replica."), .temporarilyUnavailable),
        (RedisError.server("OOM command not allowed when used memory > 'maxmemory'."), .refused),
        (RedisError.server("NOPERM User u has no permissions to run the 'evalsha' command"), .refused),
        (RedisError.server("MISCONF Redis is configured to save RDB snapshots"), .refused),
        (RedisError.server("ERR Error running script"), .rejected),
        (RedisError.server("NOSCRIPT No matching script."), .rejected),
        (RedisError.server("MOVED 3999 127.0.0.1:6381"), .rejected),
        (RedisError(.unexpectedReply, "not an array", delivery: .answered), .rejected),
    ])
    func eachErrorHasOneAvailability(_ error: RedisError, _ expected: RedisError.Availability) {
        #expect(error.availability == expected)
        #expect(error.isUnavailable == (expected == .unreachable || expected == .temporarilyUnavailable))
        #expect((CircuitBreaker.outcome(of: error) == .unavailable) == error.isUnavailable)
    }
}
