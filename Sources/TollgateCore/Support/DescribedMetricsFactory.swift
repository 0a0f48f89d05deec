import CoreMetrics
import Prometheus

/// What one metric measures: its Prometheus name (with its unit, e.g. `_seconds`,
/// `_total`), the `# HELP` text, and, for a histogram, its buckets.
public struct MetricDescription: Sendable {
    public enum Buckets: Sendable {
        case durations([Duration])
        case values([Double])
    }

    public let name: String
    public let help: String
    public let buckets: Buckets?

    public init(_ name: String, help: String, buckets: Buckets? = nil) {
        self.name = name
        self.help = help
        self.buckets = buckets
    }
}

/// A swift-metrics factory over a Prometheus registry that gives every metric the HELP text
/// (and histogram buckets) of its description. `PrometheusMetricsFactory` passes an empty
/// help, and the registry refuses (traps on) two helps for one name, so a process creates
/// all its metrics through one of these. A label without a description gets no HELP line:
/// `promtool check metrics` (Scripts/checks) fails on it.
public struct DescribedMetricsFactory: MetricsFactory {
    public let registry: PrometheusCollectorRegistry
    private let descriptions: [String: MetricDescription]

    public init(registry: PrometheusCollectorRegistry, descriptions: [MetricDescription]) {
        self.registry = registry
        self.descriptions = Dictionary(descriptions.map { ($0.name, $0) }) { first, _ in first }
    }

    public func description(of label: String) -> MetricDescription? { descriptions[label] }

    /// The registry's descriptor for a label: the whole label as the name, the help text.
    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: descriptions[label]?.help ?? "")
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        var buckets: [Double] = [0.001, 0.01, 0.1, 1, 10, 100, 1_000]
        if case .values(let described) = descriptions[label]?.buckets { buckets = described }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        var buckets: [Duration] = [.milliseconds(1), .milliseconds(10), .milliseconds(100), .seconds(1), .seconds(10)]
        if case .durations(let described) = descriptions[label]?.buckets { buckets = described }
        return registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
