/// When to stop sending requests to Redis, and when to try again. Pure: time comes in as
/// an argument, decisions go out as values, so it is tested without I/O
/// (`CircuitBreakerStateMachineTests`).
///
/// Closed: calls go through; `threshold` consecutive unavailable outcomes open it. Open:
/// calls are refused at once until `cooldown` has passed; then one probe call goes through
/// (half-open) and every other call is refused while it runs. The probe's outcome decides:
/// Redis answered (with success or with an error about the request) closes the breaker,
/// unavailable opens it for another cooldown, and a cancelled probe hands the slot to the
/// next caller at once.
///
/// Every admitted call must report exactly one ``Outcome`` with the ``Admission`` it got;
/// ``CircuitBreaker/run(_:)`` makes sure of that.
public struct CircuitBreakerStateMachine: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        /// One probe is in flight.
        case halfOpen
    }

    /// What ``admit(at:)`` allows.
    public enum Admission: Sendable, Equatable {
        /// An ordinary call, the breaker being closed.
        case call
        /// The one probe of a half-open breaker: its outcome closes or reopens it.
        case probe
        /// Not now: the breaker is open, or another call is probing.
        case refused
    }

    /// How an admitted call ended.
    public enum Outcome: Sendable, Equatable {
        /// Redis answered the call.
        case success
        /// Redis answered with an error about this request (or refused it for a reason of its
        /// own, such as `OOM` or `NOPERM`): Redis is reachable.
        case reachable
        /// Redis could not be reached, or said it cannot serve commands now.
        case unavailable
        /// The caller went away before an outcome was known.
        case cancelled
    }

    public private(set) var state: State = .closed(failures: 0)
    public let threshold: Int
    public let cooldown: Duration

    public init(threshold: Int, cooldown: Duration) {
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
    }

    /// Whether a call may go to Redis now; a half-open breaker admits only its one probe.
    public mutating func admit(at now: ContinuousClock.Instant) -> Admission {
        switch state {
        case .closed: return .call
        case .open(let until):
            guard now >= until else { return .refused }
            state = .halfOpen
            return .probe
        case .halfOpen: return .refused
        }
    }

    /// Whether ``admit(at:)`` would let a call through now (it changes nothing).
    public func wouldAdmit(at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed: true
        case .open(let until): now >= until
        case .halfOpen: false
        }
    }

    /// Records how an admitted call ended.
    public mutating func record(_ outcome: Outcome, of admission: Admission, at now: ContinuousClock.Instant) {
        switch (admission, state) {
        case (.refused, _):
            return
        case (.probe, .halfOpen):
            switch outcome {
            case .success, .reachable: state = .closed(failures: 0)
            case .unavailable: state = .open(until: now + cooldown)
            // The slot is free again: the next caller probes without waiting another cooldown.
            case .cancelled: state = .open(until: now)
            }
        case (.probe, _):
            // Only a half-open breaker has a probe in flight; nothing else can be its outcome.
            return
        case (.call, .closed(let failures)):
            switch outcome {
            case .success, .reachable: state = .closed(failures: 0)
            case .unavailable: state = failures + 1 >= threshold ? .open(until: now + cooldown) : .closed(failures: failures + 1)
            case .cancelled: return
            }
        case (.call, .open), (.call, .halfOpen):
            // A call admitted before the breaker opened, ending late: the probe decides now.
            return
        }
    }

    /// 0 closed, 1 half-open, 2 open — for the metrics gauge.
    public var gaugeValue: Int { Self.gaugeValue(of: state) }

    public static func gaugeValue(of state: State) -> Int {
        switch state {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
    }
}
