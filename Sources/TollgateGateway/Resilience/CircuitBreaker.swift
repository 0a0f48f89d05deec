import Synchronization
import TollgateRedis

/// The gateway's shared breaker around Redis.
public final class CircuitBreaker: Sendable {
    private let machine: Mutex<CircuitBreakerStateMachine>
    private let onChange: @Sendable (Int) -> Void

    public init(threshold: Int, cooldown: Duration, onChange: @escaping @Sendable (Int) -> Void = { _ in }) {
        machine = Mutex(CircuitBreakerStateMachine(threshold: threshold, cooldown: cooldown))
        self.onChange = onChange
    }

    public func shouldAttempt() -> Bool {
        let (allowed, gauge, changed) = machine.withLock { machine -> (Bool, Int, Bool) in
            let before = machine.gaugeValue
            let allowed = machine.shouldAttempt(at: .now)
            return (allowed, machine.gaugeValue, before != machine.gaugeValue)
        }
        if changed { onChange(gauge) }
        return allowed
    }

    public func recordSuccess() {
        let (gauge, changed) = machine.withLock { machine -> (Int, Bool) in
            let before = machine.gaugeValue
            machine.recordSuccess()
            return (machine.gaugeValue, before != machine.gaugeValue)
        }
        if changed { onChange(gauge) }
    }

    public func recordFailure() {
        let (gauge, changed) = machine.withLock { machine -> (Int, Bool) in
            let before = machine.gaugeValue
            machine.recordFailure(at: .now)
            return (machine.gaugeValue, before != machine.gaugeValue)
        }
        if changed { onChange(gauge) }
    }

    public var isOpen: Bool { machine.withLock { $0.gaugeValue == 2 } }

    /// Whether an error means "Redis is unavailable" (counts against the breaker), as
    /// opposed to an answer about this request.
    public static func isUnavailability(_ error: RedisError) -> Bool {
        switch error.code {
        case .notConnected, .timeout, .connectionLost, .clientClosed, .authenticationFailed: return true
        case .server: return ["LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY"].contains(error.prefix ?? "")
        default: return false
        }
    }
}
