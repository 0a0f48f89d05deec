import CoreMetrics
import Metrics
import Synchronization

/// The gateway's metrics, created once with bounded dimensions (result, reason, tier,
/// route — never a customer id), on a factory the caller chooses.
public final class GatewayMetrics: Sendable {
    private let factory: any MetricsFactory
    private let counters = Mutex<[String: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])
    let breakerState: Gauge
    let configurationVersion: Gauge
    let spoolDepth: Gauge
    let holdsCreated: Counter
    let spooled: Counter
    let spoolReplayed: Counter

    public init(factory: any MetricsFactory) {
        self.factory = factory
        breakerState = Gauge(label: "tollgate_circuit_breaker_state", factory: factory)
        configurationVersion = Gauge(label: "tollgate_config_version", factory: factory)
        spoolDepth = Gauge(label: "tollgate_spool_depth", factory: factory)
        holdsCreated = Counter(label: "tollgate_holds_created_total", factory: factory)
        spooled = Counter(label: "tollgate_spooled_total", factory: factory)
        spoolReplayed = Counter(label: "tollgate_spool_replayed_total", factory: factory)
    }

    /// tollgate_decisions_total{result, reason, tier}: allowed, limited, degraded (fail
    /// open), unavailable (fail closed), rejected (bad input or auth).
    func decision(result: String, reason: String = "", tier: String = "") {
        counter("tollgate_decisions_total", [("result", result), ("reason", reason), ("tier", tier)]).increment()
    }

    /// tollgate_settlements_total{operation, result}
    func settlement(_ operation: String, result: String) {
        counter("tollgate_settlements_total", [("operation", operation), ("result", result)]).increment()
    }

    /// tollgate_redis_errors_total{kind}
    func redisError(_ kind: String) {
        counter("tollgate_redis_errors_total", [("kind", kind)]).increment()
    }

    /// tollgate_request_duration_seconds{route, status}
    func requestDuration(route: String, status: Int, nanoseconds: Int64) {
        timer("tollgate_request_duration_seconds", [("route", route), ("status", String(status / 100) + "xx")]).recordNanoseconds(nanoseconds)
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return counters.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = Counter(label: label, dimensions: dimensions, factory: factory)
            cache[key] = counter
            return counter
        }
    }

    private func timer(_ label: String, _ dimensions: [(String, String)]) -> Timer {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return timers.withLock { cache in
            if let timer = cache[key] { return timer }
            let timer = Timer(label: label, dimensions: dimensions, factory: factory)
            cache[key] = timer
            return timer
        }
    }
}
