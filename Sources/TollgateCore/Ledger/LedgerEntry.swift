/// One usage event in a partition's ledger stream, as `settle.lua` writes it: a single
/// stream field `e` holding tab-separated columns (see the script's header).
public struct LedgerEntry: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case commit, record }

    /// The stream entry id (`1732400000000-0`).
    public var id: String
    public var kind: Kind
    public var requestID: String
    public var organization: String
    public var workspace: String
    public var key: String
    public var user: String
    public var feature: String
    public var session: String
    /// The experiment (variant); empty when none was given (and in lines written before it existed).
    public var experiment: String
    public var tier: String
    public var model: String
    public var provider: String
    public var priceVersion: String
    public var usageFormat: String
    public var usage: TokenUsage
    /// Nano-units of the configuration's currency.
    public var costNanos: Int64
    public var estimatedTokens: Int64
    /// Redis time of the settlement and of the reservation (0: none), ms since 1970.
    public var at: Int64
    public var reservedAt: Int64
    public var latencyMillis: Int64?
    public var cacheHit: Bool?
    /// Limits the subjects were over after this usage (`o:budget_daily`).
    public var overLimits: [String]

    /// Parses the `e` field of a stream entry; nil if it is not a ledger line we know.
    public init?(id: String, line: String) {
        let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard columns.count >= 26, columns[0] == "1", let kind = Kind(rawValue: columns[1]) else { return nil }
        func int(_ index: Int) -> Int64 { Int64(columns[index]) ?? 0 }
        self.id = id
        self.kind = kind
        requestID = columns[2]
        organization = columns[3]
        at = int(4)
        reservedAt = int(5)
        estimatedTokens = int(6)
        usage = TokenUsage(input: int(7), cachedInput: int(8), cacheWrite: int(9), output: int(10), reasoning: int(11))
        costNanos = int(12)
        latencyMillis = int(13) < 0 ? nil : int(13)
        cacheHit = int(14) < 0 ? nil : int(14) == 1
        usageFormat = columns[15]
        overLimits = columns[16].isEmpty ? [] : columns[16].split(separator: ",").map(String.init)
        model = columns[17]
        provider = columns[18]
        priceVersion = columns[19]
        user = columns[20]
        feature = columns[21]
        session = columns[22]
        tier = columns[23]
        key = columns[24]
        workspace = columns[25]
        experiment = columns.count > 26 ? columns[26] : ""
    }
}
