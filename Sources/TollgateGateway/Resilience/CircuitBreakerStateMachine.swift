/// When to stop sending requests to Redis, and when to try again. Pure: time comes in as
/// an argument, decisions go out as values, so it is tested without I/O.
///
/// Closed: calls go through; `threshold` consecutive failures open it. Open: calls are
/// refused at once until `cooldown` has passed; then one probe call goes through
/// (half-open). The probe's success closes the breaker, its failure opens it again.
public struct CircuitBreakerStateMachine: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen
    }

    public private(set) var state: State = .closed(failures: 0)
    public let threshold: Int
    public let cooldown: Duration

    public init(threshold: Int, cooldown: Duration) {
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
    }

    /// Whether a call may go to Redis now. In half-open state only the one probe may.
    public mutating func shouldAttempt(at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen
            return true
        case .halfOpen: return false
        }
    }

    public mutating func recordSuccess() {
        state = .closed(failures: 0)
    }

    /// Records a failed call; returns true if this opened the breaker.
    @discardableResult
    public mutating func recordFailure(at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed(let failures):
            if failures + 1 >= threshold {
                state = .open(until: now + cooldown)
                return true
            }
            state = .closed(failures: failures + 1)
            return false
        case .halfOpen, .open:
            state = .open(until: now + cooldown)
            return true
        }
    }

    /// 0 closed, 1 half-open, 2 open — for the metrics gauge.
    public var gaugeValue: Int {
        switch state {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
    }
}
