import Synchronization
import TollgateCore
import TollgateRedis

/// The gateway's shared breaker around Redis. Every call to Redis goes through ``run(_:)``,
/// which admits it or not and records exactly one outcome for it.
public final class CircuitBreaker: Sendable {
    public typealias State = CircuitBreakerStateMachine.State
    public typealias Outcome = CircuitBreakerStateMachine.Outcome

    /// ``run(_:)`` did not call Redis: the breaker is open or another call is probing.
    public struct OpenError: Error, Sendable {}

    private let machine: Mutex<CircuitBreakerStateMachine>
    private let onChange: @Sendable (_ from: State, _ to: State) -> Void

    /// - Parameter onChange: told of every change of state (closed with a different failure
    ///   count included), outside the lock.
    public init(threshold: Int, cooldown: Duration, onChange: @escaping @Sendable (_ from: State, _ to: State) -> Void = { _, _ in }) {
        machine = Mutex(CircuitBreakerStateMachine(threshold: threshold, cooldown: cooldown))
        self.onChange = onChange
    }

    /// Runs `body` if the breaker admits a call now, and records its outcome: a value is
    /// success, an error is classified by ``outcome(of:)``. Throws ``OpenError`` without
    /// running `body` when the breaker refuses; otherwise returns or rethrows what `body` did.
    public func run<Value>(_ body: () async throws -> Value) async throws -> Value {
        let admission = transition { $0.admit(at: .now) }
        guard admission != .refused else { throw OpenError() }
        let value: Value
        do {
            value = try await body()
        } catch {
            transition { $0.record(Self.outcome(of: error), of: admission, at: .now) }
            throw error
        }
        transition { $0.record(.success, of: admission, at: .now) }
        return value
    }

    /// How a failed call counts, by the one classification of Redis errors
    /// (``RedisError/availability``). Anything that is not a Redis error came from an answer.
    public static func outcome(of error: any Error) -> Outcome {
        let redis: RedisError? = switch error {
        case let error as RedisError: error
        case let error as EngineError: error.redis
        default: nil
        }
        if let redis { return redis.isUnavailable ? .unavailable : .reachable }
        return error is CancellationError ? .cancelled : .reachable
    }

    public var state: State { machine.withLock { $0.state } }

    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// Whether a call would be admitted now (changes nothing).
    public var wouldAdmit: Bool { machine.withLock { $0.wouldAdmit(at: .now) } }

    private func transition<Value>(_ change: (inout CircuitBreakerStateMachine) -> Value) -> Value {
        let (result, before, after) = machine.withLock { machine in
            let before = machine.state
            let result = change(&machine)
            return (result, before, machine.state)
        }
        if before != after { onChange(before, after) }
        return result
    }
}
