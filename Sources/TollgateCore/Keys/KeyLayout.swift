import Crypto
import Synchronization
import TollgateRedis

/// Every Redis key and channel Tollgate uses, built in one place.
///
/// Per-request state lives under a partition hash tag, `{p<N>.<salt>}`, chosen by a stable
/// hash of the organisation id, so that the organisation's state hash, its request records,
/// the partition's hold index and its ledger stream share one Cluster slot and one script can
/// touch them all. Configuration lives under `{cfg}`.
///
/// The salt puts partition N's slot at the start of the N-th of `partitions` equal slices of
/// the slot space, so partitions spread over a cluster's primaries as evenly as its slot
/// ranges are (16 partitions over 3 primaries: 6/5/5; plain `{p<N>}` tags land 4/5/7).
public struct KeyLayout: Sendable, Hashable {
    public let prefix: String
    public let partitions: Int
    private let tags: [String]

    public init(prefix: String = "tg", partitions: Int = 16) {
        self.prefix = prefix
        self.partitions = max(1, partitions)
        self.tags = Self.partitionTags(self.partitions)
    }

    private static let tagCache = Mutex<[Int: [String]]>([:])

    /// `p<N>.<salt>` for N in 0..<count, the salt the smallest whose hash slot falls in
    /// [N·16384/count, (N+1)·16384/count) — the same for every process, so every gateway,
    /// monitor and CLI agrees (a pure function of the partition count).
    static func partitionTags(_ count: Int) -> [String] {
        if let cached = tagCache.withLock({ $0[count] }) { return cached }
        let tags = (0..<count).map { partition in
            let low = partition * HashSlot.count / count, high = (partition + 1) * HashSlot.count / count
            let stem = "p\(partition)."
            let stemCRC = HashSlot.crc16(stem.utf8)
            var salt = 0
            while true {
                let digits = String(salt)
                let slot = Int(HashSlot.crc16(digits.utf8, continuing: stemCRC)) % HashSlot.count
                if slot >= low && slot < high { return stem + digits }
                salt += 1
            }
        }
        tagCache.withLock { $0[count] = tags }
        return tags
    }

    /// The organisation's partition: FNV-1a (32-bit) of its id, modulo the partition count.
    public func partition(of organization: String) -> Int {
        var hash: UInt32 = 2_166_136_261
        for byte in organization.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return Int(hash % UInt32(partitions))
    }

    public func tag(_ partition: Int) -> String { "\(prefix):{\(tags[partition])}" }

    /// Hash of the organisation's live counters: one field per subject (`o`, `w:<id>`,
    /// `k:<id>`, `u:<id>`), each a packed window + budget record.
    public func state(organization: String) -> String { "\(tag(partition(of: organization))):s:\(organization)" }

    /// The details of a released or expired reservation (its hold's bytes), kept so that a
    /// late commit can still be priced and attributed.
    public func request(organization: String, id: String) -> String { "\(tag(partition(of: organization))):r:\(organization):\(id)" }

    /// Member of the hold index for a request.
    public func holdMember(organization: String, id: String) -> String { "\(organization):\(id)" }

    /// The live hold's field in the organisation's state hash.
    public func holdField(id: String) -> String { "h:\(id)" }

    /// A request's field in its idempotency slice: the first 16 bytes of SHA-256 of
    /// `organisation NUL request id` — fixed-size whatever the id's length, and not forgeable
    /// into another id's outcome.
    public func outcomeField(organization: String, id: String) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array(organization.utf8) + [0] + Array(id.utf8))
        return Array(hasher.finalize().prefix(16))
    }

    /// One hash of an idempotency slice: the outcomes of `bucket` of the partition's requests
    /// settled in `slice` (Redis time / idempotency retention).
    public func idempotency(partition: Int, slice: Int64, bucket: Int) -> String { "\(tag(partition)):i:\(slice):\(bucket)" }

    /// The idempotency hashes a script call for a request may use: its bucket in slices
    /// `clientSlice - 2 ... clientSlice + 1` (the script picks the current and the previous
    /// slice by Redis' clock, which may differ from the caller's by less than a slice).
    public func idempotencySlices(organization: String, field: [UInt8], clientSlice: Int64, buckets: Int) -> [String] {
        let bucket = (Int(field[0]) << 8 | Int(field[1])) % max(1, buckets)
        let partition = partition(of: organization)
        return (clientSlice - 2...clientSlice + 1).map { idempotency(partition: partition, slice: $0, bucket: bucket) }
    }

    /// Sorted set of live holds in a partition, scored by expiry (ms).
    public func holds(partition: Int) -> String { "\(tag(partition)):holds" }

    /// The usage ledger of a partition (a stream).
    public func ledger(partition: Int) -> String { "\(tag(partition)):ledger" }

    public func holds(organization: String) -> String { holds(partition: partition(of: organization)) }
    public func ledger(organization: String) -> String { ledger(partition: partition(of: organization)) }

    // MARK: Roll-ups and alerts (written by the monitor, in the organisation's partition)

    /// Usage totals of one organisation for one period (`h` hour, `d` day, `m` month), its
    /// label in the organisation's timezone (`2026112314`, `20261123`, `202611`).
    public func rollup(organization: String, period: RollupPeriod, label: String) -> String {
        "\(tag(partition(of: organization))):ru:\(period.rawValue):\(organization):\(label)"
    }

    /// The organisation's total cost in one hour (a plain counter, for spend-rate projections).
    public func hourlyCost(organization: String, label: String) -> String {
        "\(tag(partition(of: organization))):hc:\(organization):\(label)"
    }

    // MARK: Overview roll-ups (written by the monitor, one set per partition and period)

    /// Totals of every organisation of a partition for one day or month: fields `<metric>`,
    /// a handful, so a range's daily figures read in a few small calls.
    public func overviewTotals(partition: Int, period: RollupPeriod, label: String) -> String {
        "\(tag(partition)):ov:t:\(period.rawValue):\(label)"
    }

    /// Per-model totals of a partition for one day or month: `<model>\t<metric>` and the
    /// models' latency histograms; bounded by the price catalogue.
    public func overviewModels(partition: Int, period: RollupPeriod, label: String) -> String {
        "\(tag(partition)):ov:m:\(period.rawValue):\(label)"
    }

    /// Per-organisation figures of a partition for one day or month, read field by field
    /// (`HMGET`) for the organisations a ranking names: `o\t<org>\t<metric>`, and
    /// `<u|f|x>\t<org>\t<user|feature|experiment>\t<requests|cost>`.
    public func overviewDetails(partition: Int, period: RollupPeriod, label: String) -> String {
        "\(tag(partition)):ov:d:\(period.rawValue):\(label)"
    }

    /// A partition's ranking by cost for one day or month (a sorted set scored in nanos):
    /// organisations (`o`, members `<org>`), or an organisation's users, features or
    /// experiments (`u`, `f`, `x`, members `<org>\t<value>`).
    public func overviewRanking(_ kind: OverviewRanking, partition: Int, period: RollupPeriod, label: String) -> String {
        "\(tag(partition)):ov:z\(kind.rawValue):\(period.rawValue):\(label)"
    }

    /// Reservations refused in a partition on one day (in each organisation's timezone):
    /// fields `<reason>`, counts added by the gateways once a second.
    public func refusals(partition: Int, label: String) -> String {
        "\(tag(partition)):rf:d:\(label)"
    }

    /// An organisation's fired alerts, newest first (a capped list of alert JSON).
    public func alertLog(organization: String) -> String {
        "\(tag(partition(of: organization))):alog:\(organization)"
    }
    /// Organisations with ledger activity in a partition, scored by when (ms): the ones the
    /// monitor's alert evaluation looks at.
    public func activeOrganizations(partition: Int) -> String { "\(tag(partition)):active" }

    /// Marks an alert as fired for its subject, threshold and period.
    public func alertMarker(organization: String, name: String) -> String {
        "\(tag(partition(of: organization))):al:\(organization):\(name)"
    }

    // MARK: Configuration

    public var configurationDocument: String { "\(prefix):{cfg}:doc" }
    public var configurationVersion: String { "\(prefix):{cfg}:version" }
    public var audit: String { "\(prefix):{cfg}:audit" }
    /// Pub/sub channel announcing a new configuration version.
    public var configurationChannel: String { "\(prefix):config" }
    /// Names of the configuration's tiers (a set config-write keeps), so customer writes can
    /// check a tier exists without reading the document.
    public var tierNames: String { "\(prefix):{cfg}:tiers" }

    // MARK: Customers (one record per organisation, workspace, key and service token)
    //
    // In the configuration's slot, `{cfg}`, so that one script changes several customers, the
    // audit stream and the change stream atomically, on one server or a Cluster.

    /// Prefix of every customer record and index: `<prefix><kind>:<id>` holds a record (JSON),
    /// `<prefix>all:<kind>` the sorted set of a kind's ids; see ``CustomerStore``.
    public var customerPrefix: String { "\(prefix):{cfg}:c:" }
    public func customerRecord(_ kind: CustomerKind, _ id: String) -> String { "\(customerPrefix)\(kind.rawValue):\(id)" }
    /// Every id of a kind, a sorted set (score 0, so ordered by id) for keyset pagination.
    public func customerIndex(_ kind: CustomerKind) -> String { "\(customerPrefix)all:\(kind.rawValue)" }
    /// An organisation's workspaces (sorted set of ids).
    public func organizationWorkspaces(_ organization: String) -> String { "\(customerPrefix)ow:\(organization)" }
    /// An organisation's keys, through all its workspaces (sorted set of ids).
    public func organizationKeys(_ organization: String) -> String { "\(customerPrefix)ok:\(organization)" }
    /// A workspace's keys (sorted set of ids).
    public func workspaceKeys(_ workspace: String) -> String { "\(customerPrefix)wk:\(workspace)" }
    /// The id of the service token whose secret hashes to `sha256`.
    public func tokenByHash(_ sha256: String) -> String { "\(customerPrefix)th:\(sha256)" }
    /// Organisations and workspaces per tier (a hash, tier → count): a tier in use cannot be removed.
    public var tierUse: String { "\(customerPrefix)tieruse" }
    /// Every customer change, one entry per entity (`seq`, `kind`, `id`), trimmed to a bounded length.
    public var customerChanges: String { "\(customerPrefix)changes" }
    /// The sequence number of the latest customer change.
    public var customerSequence: String { "\(customerPrefix)seq" }
    /// Pub/sub channel announcing a customer change (the stream holds what changed).
    public var customerChannel: String { "\(prefix):customers" }

    /// Pub/sub channel of decisions and alerts, for `tollgate watch`.
    public var eventsChannel: String { "\(prefix):events" }

    // MARK: Admin API

    /// The first answer to an admin API request with an `Idempotency-Key`, per admin token.
    public func adminIdempotency(token: String, key: String) -> String { "\(prefix):{adm}:idem:\(token):\(key)" }

    /// The keys of one request's scripts, checked to share one slot.
    public func requestKeys(organization: String, id: String) -> [String] {
        [state(organization: organization), request(organization: organization, id: id), holds(organization: organization), ledger(organization: organization)]
            + idempotencySlices(organization: organization, field: outcomeField(organization: organization, id: id), clientSlice: 1_000, buckets: 65_536)
    }

    public static func sameSlot(_ keys: [String]) -> Bool {
        Set(keys.map { HashSlot(key: $0) }).count <= 1
    }
}
