import CoreMetrics
import Metrics
import TollgateCore

/// The gateway's metrics, created once with bounded dimensions (result, reason, tier,
/// route — never a customer id), on a factory the caller chooses. Every name is described
/// in ``descriptions``: its HELP text on `/metrics` and, for histograms, its buckets.
public final class GatewayMetrics: Sendable {
    private let counter: DimensionedCache<Counter>
    private let timer: DimensionedCache<Timer>
    private let histogram: DimensionedCache<Recorder>
    let breakerState: Gauge
    let configurationVersion: Gauge
    let holdsCreated: Counter
    let spooled: Counter
    let spoolReplayed: Counter

    public init(factory: any MetricsFactory) {
        counter = DimensionedCache { Counter(label: $0, dimensions: $1, factory: factory) }
        timer = DimensionedCache { Timer(label: $0, dimensions: $1, factory: factory) }
        histogram = DimensionedCache { Recorder(label: $0, dimensions: $1, aggregate: true, factory: factory) }
        breakerState = Gauge(label: "tollgate_circuit_breaker_state", factory: factory)
        configurationVersion = Gauge(label: "tollgate_config_version", factory: factory)
        holdsCreated = Counter(label: "tollgate_holds_created_total", factory: factory)
        spooled = Counter(label: "tollgate_spooled_total", factory: factory)
        spoolReplayed = Counter(label: "tollgate_spool_replayed_total", factory: factory)
    }

    /// tollgate_decisions_total{result, reason, tier}: allowed, limited, degraded (fail
    /// open), unavailable (fail closed), rejected (bad input or auth).
    func decision(result: String, reason: String = "", tier: String = "") {
        counter("tollgate_decisions_total", [("result", result), ("reason", reason), ("tier", tier)]).increment()
    }

    /// A 429: the decision, and tollgate_refusals_total{reason, scope, tier}.
    func limited(_ refusal: LimitRefusal, tier: String) {
        decision(result: "limited", reason: refusal.reason.rawValue, tier: tier)
        counter("tollgate_refusals_total", [("reason", refusal.reason.rawValue), ("scope", refusal.scope.rawValue), ("tier", tier)]).increment()
    }

    /// tollgate_prompts_counted_total{tokenizer}: reservations whose input the gateway counted.
    func promptCounted(tokenizer: String) {
        counter("tollgate_prompts_counted_total", [("tokenizer", tokenizer)]).increment()
    }

    /// tollgate_estimate_error_ratio{model}: (estimated − actual) / actual tokens of a settled
    /// reservation; `model` is a catalogue name or "other" (bounded).
    func estimateError(model: String, ratio: Double) {
        histogram("tollgate_estimate_error_ratio", [("model", model)]).record(ratio)
    }

    /// tollgate_settlements_total{operation, result}
    func settlement(_ operation: String, result: String) {
        counter("tollgate_settlements_total", [("operation", operation), ("result", result)]).increment()
    }

    /// tollgate_proxy_calls_total{api, outcome}: committed (provider's usage), counted (the
    /// gateway's own count), released, limited, rejected, upstream_error.
    func proxyCall(api: String, outcome: String) {
        counter("tollgate_proxy_calls_total", [("api", api), ("outcome", outcome)]).increment()
    }

    /// tollgate_redis_errors_total{kind}
    func redisError(_ kind: String) {
        counter("tollgate_redis_errors_total", [("kind", kind)]).increment()
    }

    /// tollgate_request_duration_seconds{route, status}
    func requestDuration(route: String, status: Int, nanoseconds: Int64) {
        timer("tollgate_request_duration_seconds", [("route", route), ("status", String(status / 100) + "xx")]).recordNanoseconds(nanoseconds)
    }

    /// What each of the gateway's metrics measures (Docs/operations.md#metrics lists them too).
    public static let descriptions: [MetricDescription] = [
        MetricDescription("tollgate_decisions_total", help: "Reservation decisions and refused requests, by result (allowed, limited, degraded: failed open, unavailable: failed closed, rejected: bad input or auth), reason (limit, duplicate or error code) and governing tier."),
        MetricDescription("tollgate_refusals_total", help: "Reservations refused with 429 by a limit, by reason (tpm, rpm, budget_daily, budget_monthly, user_cap, too_large), level of the limit (organization, workspace, key, user) and governing tier."),
        MetricDescription("tollgate_settlements_total", help: "Commits, records and releases applied, by operation and result (settled, counted, duplicate; released, alreadyReleased, ...)."),
        MetricDescription("tollgate_redis_errors_total", help: "Redis calls that failed because Redis was unavailable, by client error kind."),
        MetricDescription("tollgate_request_duration_seconds", help: "Time to answer an API call, from request to response, by route and status class.", buckets: .durations([
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        ])),
        MetricDescription("tollgate_circuit_breaker_state", help: "This node's circuit breaker around Redis: 0 closed, 1 half-open (a probe may pass), 2 open (calls do not try Redis)."),
        MetricDescription("tollgate_config_version", help: "Version of the configuration document this node has loaded."),
        MetricDescription("tollgate_spool_depth", help: "Commits, records and releases in this node's spool (and in an unfinished replay) because Redis was unreachable, not yet applied."),
        MetricDescription("tollgate_spooled_total", help: "Commits, records and releases written to the spool because Redis was unavailable."),
        MetricDescription("tollgate_spool_replayed_total", help: "Spool entries applied to Redis after it came back."),
        MetricDescription("tollgate_holds_created_total", help: "Reservations admitted: holds created."),
        MetricDescription("tollgate_spool_oldest_entry_age_seconds", help: "Age in seconds of the oldest entry in this node's spool (or unfinished replay); 0 when the spool is empty."),
        MetricDescription("tollgate_prompts_counted_total", help: "Reservations whose input estimate the gateway counted from the prompt, by tokenizer (o200k_base, cl100k_base, estimate:F)."),
        MetricDescription("tollgate_estimate_error_ratio", help: "Relative error of settled reservations' token estimates against the usage committed for them, (estimated - actual) / actual total tokens, by model (other: priced by a tier's fallback); negative is an under-estimate.",
                          buckets: .values([-0.9, -0.5, -0.25, -0.1, -0.05, -0.01, 0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10])),
    ]
}
