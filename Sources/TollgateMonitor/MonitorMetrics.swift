import CoreMetrics
import Metrics
import TollgateCore

/// The monitor's metrics, bounded labels only (kind, tier, model — a model of the price
/// catalogue, `other` otherwise). Every name is described in ``descriptions``.
public final class MonitorMetrics: Sendable {
    private let counter: DimensionedCache<Counter>
    private let gauge: DimensionedCache<Gauge>
    private let timer: DimensionedCache<Timer>
    let ledgerLag: Gauge
    let entriesRolledUp: Counter
    let entriesClaimed: Counter
    let entriesUnreadable: Counter
    let holdsExpired: Counter
    let alertsFailed: Counter

    public init(factory: any MetricsFactory) {
        counter = DimensionedCache { Counter(label: $0, dimensions: $1, factory: factory) }
        gauge = DimensionedCache { Gauge(label: $0, dimensions: $1, factory: factory) }
        timer = DimensionedCache { Timer(label: $0, dimensions: $1, factory: factory) }
        ledgerLag = Gauge(label: "tollgate_monitor_ledger_lag_entries", factory: factory)
        entriesRolledUp = Counter(label: "tollgate_monitor_entries_rolled_up_total", factory: factory)
        entriesClaimed = Counter(label: "tollgate_monitor_entries_claimed_total", factory: factory)
        entriesUnreadable = Counter(label: "tollgate_monitor_entries_unreadable_total", factory: factory)
        holdsExpired = Counter(label: "tollgate_monitor_holds_expired_total", factory: factory)
        alertsFailed = Counter(label: "tollgate_monitor_alert_deliveries_failed_total", factory: factory)
    }

    /// tollgate_monitor_alerts_fired_total{kind}
    func alertFired(kind: String) {
        counter("tollgate_monitor_alerts_fired_total", [("kind", kind)]).increment()
    }

    /// tollgate_tier_spend_today_nanounits{tier, currency} and
    /// tollgate_tier_budget_remaining_today_nanounits{tier, currency}.
    func tierSpend(tier: String, currency: Currency, spent: Money, remaining: Money?) {
        gauge("tollgate_tier_spend_today_nanounits", [("tier", tier), ("currency", currency.code)]).record(spent.nanos)
        if let remaining {
            gauge("tollgate_tier_budget_remaining_today_nanounits", [("tier", tier), ("currency", currency.code)]).record(remaining.nanos)
        }
    }

    /// One ledger entry counted into the roll-ups: tollgate_tokens_total{kind, model, tier},
    /// tollgate_cost_nanounits_total{model, tier, currency} and, when it settled a
    /// reservation, tollgate_hold_age_at_settlement_seconds{tier}. The caller bounds `model`
    /// and `tier` (known names, else `other`).
    func settled(_ entry: LedgerEntry, model: String, tier: String, currency: Currency) {
        let usage = entry.usage
        for (kind, tokens) in [("input", usage.input), ("cached_input", usage.cachedInput), ("cache_write", usage.cacheWrite),
                               ("output", usage.output), ("reasoning", usage.reasoning)] where tokens > 0 {
            counter("tollgate_tokens_total", [("kind", kind), ("model", model), ("tier", tier)]).increment(by: tokens)
        }
        counter("tollgate_cost_nanounits_total", [("model", model), ("tier", tier), ("currency", currency.code)]).increment(by: max(0, entry.costNanos))
        if entry.reservedAt > 0, entry.at >= entry.reservedAt {
            timer("tollgate_hold_age_at_settlement_seconds", [("tier", tier)]).recordNanoseconds((entry.at - entry.reservedAt) * 1_000_000)
        }
    }

    /// What each of the monitor's metrics measures (Docs/operations.md#metrics lists them too).
    public static let descriptions: [MetricDescription] = [
        MetricDescription("tollgate_monitor_ledger_lag_entries", help: "Ledger entries not yet delivered to the monitors' consumer group, summed over partitions (updated every 30 s)."),
        MetricDescription("tollgate_monitor_entries_rolled_up_total", help: "Ledger entries this monitor counted into the hour, day and month roll-ups."),
        MetricDescription("tollgate_monitor_entries_claimed_total", help: "Ledger entries this monitor took over from a monitor that stopped before acknowledging them."),
        MetricDescription("tollgate_monitor_entries_unreadable_total", help: "Stream entries that are not ledger lines this monitor knows: acknowledged and skipped."),
        MetricDescription("tollgate_monitor_holds_expired_total", help: "Abandoned reservations this monitor expired and refunded."),
        MetricDescription("tollgate_monitor_alerts_fired_total", help: "Alerts this monitor fired, by kind (budget_threshold, tpm_saturated, budget_projection)."),
        MetricDescription("tollgate_monitor_alert_deliveries_failed_total", help: "Alert webhook deliveries that failed every attempt."),
        MetricDescription("tollgate_tier_spend_today_nanounits", help: "Today's spend of the organisations on a tier, in nano-units (1e-9) of the currency; every monitor exports it: aggregate with max."),
        MetricDescription("tollgate_tier_budget_remaining_today_nanounits", help: "Daily budget left (budget - spent - held) summed over a tier's organisations that have one, in nano-units (1e-9) of the currency; aggregate with max."),
        MetricDescription("tollgate_tokens_total", help: "Tokens in the ledger entries this monitor counted, by kind (input, cached_input, cache_write, output, reasoning), model and tier; sum over monitors."),
        MetricDescription("tollgate_cost_nanounits_total", help: "Cost of the ledger entries this monitor counted, in integer nano-units (1e-9) of the currency, by model and tier; sum over monitors."),
        MetricDescription("tollgate_hold_age_at_settlement_seconds", help: "Time from reservation to commit of the reservations settled in the ledger entries this monitor counted, by tier.", buckets: .durations([
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
            .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600), .seconds(1800),
        ])),
    ]
}
