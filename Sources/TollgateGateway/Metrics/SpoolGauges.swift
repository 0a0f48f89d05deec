import CoreMetrics

/// The spool's gauges, set from its in-memory counters at each scrape (their HELP text is
/// in ``GatewayMetrics/descriptions``).
struct SpoolGauges: Sendable {
    let depth: Gauge
    let oldestAge: Gauge

    init(factory: any MetricsFactory) {
        depth = Gauge(label: "tollgate_spool_depth", factory: factory)
        oldestAge = Gauge(label: "tollgate_spool_oldest_entry_age_seconds", factory: factory)
    }

    /// - Parameter now: the gateway's clock, ms since 1970 (entries carry the same clock).
    func update(_ status: Spool.Status, now: Int64) {
        depth.record(status.depth)
        let ageMillis = status.oldestSpooledAt.map { max(0, now - $0) } ?? 0
        oldestAge.record(Double(ageMillis) / 1_000)
    }
}
