import CoreMetrics
import Logging
import TollgateCore
import TollgateRedis

extension Gateway {
    /// Runs one call to Redis through the circuit breaker.
    ///
    /// Returns the call's value, or nil when Redis cannot decide now — the breaker is open,
    /// Redis is unavailable, or it refuses work (`OOM`, `NOPERM`): the caller then applies
    /// the tier's failure mode (or spools). An error about this request is rethrown.
    func throughBreaker<Value>(route: String, _ body: () async throws -> Value) async throws -> Value? {
        do {
            return try await breaker.run(body)
        } catch where cannotDecide(error, route: route) {
            return nil
        }
    }

    /// Whether `error` means Redis cannot decide now (see ``throughBreaker(route:_:)``);
    /// such an error is counted and logged here.
    func cannotDecide(_ error: any Error, route: String) -> Bool {
        if error is CircuitBreaker.OpenError { return true }
        let redis: RedisError? = switch error {
        case let error as RedisError: error
        case let error as EngineError: error.redis
        default: nil
        }
        guard let redis, redis.availability != .rejected else { return false }
        metrics.redisError(String(describing: redis.code))
        let what = redis.isUnavailable ? "Redis unavailable" : "Redis refused the command"
        logger.warning("\(what)", metadata: ["http.route": "\(route)", "redis.error": "\(redis.message)",
                                            "redis.availability": "\(redis.availability)"])
        return true
    }

    /// The breaker's gauge and a log line on every change of state.
    static func reportBreaker(from before: CircuitBreaker.State, to after: CircuitBreaker.State, metrics: GatewayMetrics, logger: Logger) {
        metrics.breakerState.record(CircuitBreakerStateMachine.gaugeValue(of: after))
        switch (before, after) {
        case (.closed, .closed), (.open, .open):
            return
        case (_, .open):
            logger.warning("circuit breaker open: Redis calls are refused until a probe succeeds", metadata: ["redis.breaker": "open"])
        case (_, .halfOpen):
            logger.info("circuit breaker half-open: probing Redis", metadata: ["redis.breaker": "half_open"])
        case (_, .closed):
            logger.info("circuit breaker closed: Redis answers again", metadata: ["redis.breaker": "closed"])
        }
    }

    /// The breaker's state as `/readyz` names it.
    var breakerStateName: String {
        switch breaker.state {
        case .closed: "ok"
        case .halfOpen: "probing"
        case .open: "unreachable"
        }
    }
}
