import Foundation

/// Roll-up periods, in the organisation's timezone.
public enum RollupPeriod: String, Sendable, CaseIterable {
    case hour = "h"
    case day = "d"
    case month = "m"

    /// The period's label for a time: `2026112314`, `20261123` or `202611`.
    public func label(_ millis: Int64, timezone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timezone
        let parts = calendar.dateComponents([.year, .month, .day, .hour], from: Date(timeIntervalSince1970: Double(millis) / 1000))
        let (y, m, d, h) = (parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0)
        switch self {
        case .hour: return String(format: "%04d%02d%02d%02d", y, m, d, h)
        case .day: return String(format: "%04d%02d%02d", y, m, d)
        case .month: return String(format: "%04d%02d", y, m)
        }
    }
}

/// The dimensions a roll-up row is kept by.
public struct RollupDimensions: Hashable, Sendable {
    public var workspace: String
    public var key: String
    public var model: String
    public var user: String
    public var feature: String
    public var experiment: String

    public init(workspace: String, key: String, model: String, user: String, feature: String, experiment: String = "") {
        self.workspace = workspace
        self.key = key
        self.model = model
        self.user = user
        self.feature = feature
        self.experiment = experiment
    }

    /// `workspace\tkey\tmodel\tuser\tfeature\texperiment`.
    public var encoded: String { [workspace, key, model, user, feature, experiment].joined(separator: "\t") }
}

/// Totals of a set of requests.
public struct UsageTotals: Sendable, Hashable {
    public var requests: Int64 = 0
    public var usage = TokenUsage()
    public var costNanos: Int64 = 0
    /// Of the requests that had a reservation: their estimated tokens, and their actual tokens.
    public var estimatedTokens: Int64 = 0
    public var estimatedActualTokens: Int64 = 0
    /// Requests that said whether their prompt hit the provider's cache, and those that did.
    public var cacheKnown: Int64 = 0
    public var cacheHits: Int64 = 0

    public init() {}

    mutating func add(metric: String, _ value: Int64) {
        switch metric {
        case "requests": requests += value
        case "input": usage.input += value
        case "cached_input": usage.cachedInput += value
        case "cache_write": usage.cacheWrite += value
        case "output": usage.output += value
        case "reasoning": usage.reasoning += value
        case "cost": costNanos += value
        case "estimated": estimatedTokens += value
        case "estimated_actual": estimatedActualTokens += value
        case "cache_known": cacheKnown += value
        case "cache_hits": cacheHits += value
        default: break
        }
    }

    public mutating func add(_ other: UsageTotals) {
        requests += other.requests
        usage.input += other.usage.input
        usage.cachedInput += other.usage.cachedInput
        usage.cacheWrite += other.usage.cacheWrite
        usage.output += other.usage.output
        usage.reasoning += other.usage.reasoning
        costNanos += other.costNanos
        estimatedTokens += other.estimatedTokens
        estimatedActualTokens += other.estimatedActualTokens
        cacheKnown += other.cacheKnown
        cacheHits += other.cacheHits
    }
}

/// Reading roll-up hashes back into rows.
public enum RollupReader {
    /// Parses `HGETALL` of a roll-up hash: dimensions → totals. Fields written before the
    /// experiment dimension existed (five dimensions) read with an empty experiment.
    public static func rows(_ fields: [(String, Int64)]) -> [RollupDimensions: UsageTotals] {
        var rows: [RollupDimensions: UsageTotals] = [:]
        for (field, value) in fields {
            let parts = field.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 6 || parts.count == 7 else { continue }
            let dimensions = RollupDimensions(workspace: parts[0], key: parts[1], model: parts[2], user: parts[3], feature: parts[4],
                                              experiment: parts.count == 7 ? parts[5] : "")
            rows[dimensions, default: UsageTotals()].add(metric: parts[parts.count - 1], value)
        }
        return rows
    }
}

/// Latency of settled requests per model, as a histogram kept in the roll-ups: one hash
/// field per model and bucket, `@latency\t<model>\t<upper bound ms or inf>`, holding a count.
public struct LatencyHistogram: Sendable, Hashable {
    /// Upper bounds of the buckets, in milliseconds (then one unbounded bucket).
    public static let bounds: [Int64] = [50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000]

    /// Count per bucket: index i counts latencies above bounds[i-1] up to bounds[i]; the
    /// last index counts everything above the largest bound.
    public var counts = [Int64](repeating: 0, count: LatencyHistogram.bounds.count + 1)

    public init() {}

    public static func field(model: String, millis: Int64) -> String {
        let bucket = bounds.first { millis <= $0 }.map(String.init) ?? "inf"
        return "@latency\t\(model)\t\(bucket)"
    }

    public var total: Int64 { counts.reduce(0, +) }

    /// The upper bound (ms) of the bucket holding quantile `q` (0...1); nil when empty or
    /// when it falls in the unbounded bucket.
    public func quantileBound(_ q: Double) -> Int64? {
        let total = total
        guard total > 0 else { return nil }
        let rank = max(1, Int64((Double(total) * q).rounded(.up)))
        var seen: Int64 = 0
        for (index, count) in counts.enumerated() {
            seen += count
            if seen >= rank { return index < Self.bounds.count ? Self.bounds[index] : nil }
        }
        return nil
    }

    public mutating func add(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
    }

    /// The histograms among `HGETALL` fields of a roll-up, by model.
    public static func read(_ fields: [(String, Int64)]) -> [String: LatencyHistogram] {
        var result: [String: LatencyHistogram] = [:]
        // Scanned as bytes, without splitting: String.hasPrefix compares by canonical
        // equivalence and split allocates, which together cost more than the rest of reading
        // a models hash of thousands of fields. `@latency\t<model>\t<bucket>`.
        let prefix = "@latency\t".utf8
        for (field, value) in fields where field.utf8.starts(with: prefix) {
            let rest = field.utf8.dropFirst(prefix.count)
            guard let tab = rest.firstIndex(of: UInt8(ascii: "\t")) else { continue }
            let bucket = field[field.utf8.index(after: tab)...]
            guard let index = bucket == "inf" ? bounds.count : bounds.firstIndex(of: Int64(bucket) ?? -1) else { continue }
            result[String(field[rest.startIndex..<tab]), default: LatencyHistogram()].counts[index] += value
        }
        return result
    }
}
