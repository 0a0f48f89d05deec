import CoreMetrics
import Metrics
import TollgateCore

/// The gateway's metrics, created once with bounded dimensions (result, reason, tier,
/// route — never a customer id), on a factory the caller chooses.
public final class GatewayMetrics: Sendable {
    private let counter: DimensionedCache<Counter>
    private let timer: DimensionedCache<Timer>
    let breakerState: Gauge
    let configurationVersion: Gauge
    let spoolDepth: Gauge
    let holdsCreated: Counter
    let spooled: Counter
    let spoolReplayed: Counter

    public init(factory: any MetricsFactory) {
        counter = DimensionedCache { Counter(label: $0, dimensions: $1, factory: factory) }
        timer = DimensionedCache { Timer(label: $0, dimensions: $1, factory: factory) }
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
}
