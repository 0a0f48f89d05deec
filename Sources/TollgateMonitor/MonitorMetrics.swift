import CoreMetrics
import Metrics
import Synchronization

/// The monitor's metrics, bounded labels only (kind, tier).
public final class MonitorMetrics: Sendable {
    private let factory: any MetricsFactory
    private let counters = Mutex<[String: Counter]>([:])
    private let gauges = Mutex<[String: Gauge]>([:])
    let ledgerLag: Gauge
    let entriesRolledUp: Counter
    let entriesClaimed: Counter
    let entriesUnreadable: Counter
    let holdsExpired: Counter
    let alertsFailed: Counter

    public init(factory: any MetricsFactory) {
        self.factory = factory
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
        gauge("tollgate_tier_spend_today", tier).record(spent)
        if let remaining { gauge("tollgate_tier_budget_remaining_today", tier).record(remaining) }
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        let key = label + dimensions.map { "|\($0.1)" }.joined()
        return counters.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = Counter(label: label, dimensions: dimensions, factory: factory)
            cache[key] = counter
            return counter
        }
    }

    private func gauge(_ label: String, _ tier: String) -> Gauge {
        gauges.withLock { cache in
            if let gauge = cache[label + "|" + tier] { return gauge }
            let gauge = Gauge(label: label, dimensions: [("tier", tier)], factory: factory)
            cache[label + "|" + tier] = gauge
            return gauge
        }
    }
}
