/// Deployment-wide settings, part of the configuration every process shares.
public struct Settings: Sendable, Hashable, Codable {
    /// The currency of every price and budget.
    public var currency: Currency
    /// Ledger partitions (hash tags `{p0.<salt>}` … , see ``KeyLayout``) organisations map onto. Fixed once
    /// traffic has flowed: changing it would move every organisation's state.
    public var partitions: Int
    /// Length of the TPM/RPM window.
    public var windowSeconds: Int
    /// Width of one window bucket. The window counts every bucket that overlaps the last
    /// `windowSeconds`, so admitted tokens never exceed a limit over any rolling window.
    public var bucketMilliseconds: Int
    /// How long request ids are remembered, so retries never charge twice: an outcome is kept
    /// between one and two of these (idempotency slices expire as a whole).
    public var idempotencyHours: Int
    /// Hashes each partition's idempotency slice is split into. Each should stay under Redis'
    /// `hash-max-listpack-entries` (128) outcomes to keep its compact encoding: about
    /// calls per second × idempotency seconds / (partitions × 100). See Docs/capacity notes in
    /// configuration.md.
    public var idempotencyBuckets: Int
    /// The layout the engine writes each subject's counters in; every version reads both. A
    /// settings document that does not name one was written before layout 2 existed and means
    /// layout 1, the one gateways of earlier versions understand: switch to 2 once every
    /// gateway, monitor and CLI runs a version that reads it (Docs/lua-scripts.md).
    public var stateLayout: StateLayout

    /// How subject headers are stored in the state hash (Docs/lua-scripts.md, "Records").
    public enum StateLayout: Int, Sendable, Hashable, Codable, CaseIterable {
        /// The newest bucket's counts in its ring slot: what versions before `4b418b7` write and read.
        case ringSlot = 1
        /// The newest bucket's counts in the subject header: a call within the bucket already
        /// started reads and writes no ring group.
        case header = 2
    }

    public init(currency: Currency = .usd, partitions: Int = 16, windowSeconds: Int = 60, bucketMilliseconds: Int = 2_000, idempotencyHours: Int = 24,
                idempotencyBuckets: Int = 16_384, stateLayout: StateLayout = .header) {
        self.currency = currency
        self.partitions = partitions
        self.windowSeconds = windowSeconds
        self.bucketMilliseconds = bucketMilliseconds
        self.idempotencyHours = idempotencyHours
        self.idempotencyBuckets = idempotencyBuckets
        self.stateLayout = stateLayout
    }

    public var idempotencyMilliseconds: Int64 { Int64(idempotencyHours) * 3_600_000 }

    public var windowMilliseconds: Int64 { Int64(windowSeconds) * 1_000 }

    /// Buckets a window spans, counting the partial one at each end.
    public var bucketsPerWindow: Int { (windowSeconds * 1_000 + bucketMilliseconds - 1) / bucketMilliseconds + 1 }

    public var problems: [String] {
        var problems: [String] = []
        if !(1...1_024).contains(partitions) { problems.append("partitions must be between 1 and 1024") }
        if !(1...3_600).contains(windowSeconds) { problems.append("window_seconds must be between 1 and 3600") }
        if bucketMilliseconds < 50 { problems.append("bucket_milliseconds must be at least 50") }
        if bucketsPerWindow > 255 { problems.append("a window may span at most 254 buckets (window_seconds × 1000 / bucket_milliseconds)") }
        if !(1...24 * 90).contains(idempotencyHours) { problems.append("idempotency_hours must be between 1 and 2160") }
        if !(1...65_536).contains(idempotencyBuckets) { problems.append("idempotency_buckets must be between 1 and 65536") }
        return problems
    }

    enum CodingKeys: String, CodingKey {
        case currency, partitions
        case windowSeconds = "window_seconds"
        case bucketMilliseconds = "bucket_milliseconds"
        case idempotencyHours = "idempotency_hours"
        case idempotencyBuckets = "idempotency_buckets"
        case stateLayout = "state_layout"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Settings()
        self.init(
            currency: try container.decodeIfPresent(Currency.self, forKey: .currency) ?? defaults.currency,
            partitions: try container.decodeIfPresent(Int.self, forKey: .partitions) ?? defaults.partitions,
            windowSeconds: try container.decodeIfPresent(Int.self, forKey: .windowSeconds) ?? defaults.windowSeconds,
            bucketMilliseconds: try container.decodeIfPresent(Int.self, forKey: .bucketMilliseconds) ?? defaults.bucketMilliseconds,
            idempotencyHours: try container.decodeIfPresent(Int.self, forKey: .idempotencyHours) ?? defaults.idempotencyHours,
            idempotencyBuckets: try container.decodeIfPresent(Int.self, forKey: .idempotencyBuckets) ?? defaults.idempotencyBuckets,
            // Absent: a document from before layout 2, read by gateways that write layout 1.
            stateLayout: try container.decodeIfPresent(StateLayout.self, forKey: .stateLayout) ?? .ringSlot)
    }
}
