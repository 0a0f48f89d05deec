import Prometheus

/// The spool's gauges, set from its in-memory counters at each scrape.
struct SpoolGauges: Sendable {
    let depth: Gauge
    let oldestAge: Gauge

    init(registry: PrometheusCollectorRegistry) {
        depth = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "tollgate", subsystem: "spool", metricName: "depth", unitName: "",
            helpText: "Commits, records and releases kept in this gateway's spool (and in an unfinished replay) because Redis was unreachable, not yet applied."))
        oldestAge = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "tollgate", subsystem: "spool", metricName: "oldest_age", unitName: "seconds",
            helpText: "Age in seconds of the oldest entry in this gateway's spool; 0 when the spool is empty."))
    }

    /// - Parameter now: the gateway's clock, ms since 1970 (entries carry the same clock).
    func update(_ status: Spool.Status, now: Int64) {
        depth.set(Int64(status.depth))
        let ageMillis = status.oldestSpooledAt.map { max(0, now - $0) } ?? 0
        oldestAge.set(Double(ageMillis) / 1_000)
    }
}
