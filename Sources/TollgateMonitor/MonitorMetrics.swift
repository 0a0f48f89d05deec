import CoreMetrics
import Metrics
import TollgateCore

/// The monitor's metrics, bounded labels only (kind, tier).
public final class MonitorMetrics: Sendable {
    private let counter: DimensionedCache<Counter>
    private let gauge: DimensionedCache<Gauge>
    let ledgerLag: Gauge
    let entriesRolledUp: Counter
    let entriesClaimed: Counter
    let entriesUnreadable: Counter
    let holdsExpired: Counter
    let alertsFailed: Counter

    public init(factory: any MetricsFactory) {
        counter = DimensionedCache { Counter(label: $0, dimensions: $1, factory: factory) }
        gauge = DimensionedCache { Gauge(label: $0, dimensions: $1, factory: factory) }
        ledgerLag = Gauge(label: "tollgate_monitor_ledger_lag", factory: factory)
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

    /// tollgate_tier_spend_today{tier} and tollgate_tier_budget_remaining_today{tier}, in currency units.
    func tierSpend(tier: String, spent: Double, remaining: Double?) {
        gauge("tollgate_tier_spend_today", [("tier", tier)]).record(spent)
        if let remaining { gauge("tollgate_tier_budget_remaining_today", [("tier", tier)]).record(remaining) }
    }
}
