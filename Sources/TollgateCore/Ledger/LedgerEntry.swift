/// One usage event in a partition's ledger stream, as `settle.lua` writes it: a single
/// stream field `e` holding the ``LedgerColumn``s tab-separated.
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

    /// Parses the `e` field of a stream entry; nil if it is not a ledger line we know (another
    /// format, too few columns, an unknown kind, or a number column that is not a number).
    public init?(id: String, line: String) {
        let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard columns.count >= LedgerColumn.minimumCount, columns[LedgerColumn.format.rawValue] == LedgerColumn.formatVersion,
              let kind = Kind(rawValue: columns[LedgerColumn.kind.rawValue]) else { return nil }
        func text(_ column: LedgerColumn) -> String { column.rawValue < columns.count ? columns[column.rawValue] : "" }
        var failed = false
        func int(_ column: LedgerColumn) -> Int64 {
            guard let value = Int64(text(column)) else { failed = true; return 0 }
            return value
        }
        self.id = id
        self.kind = kind
        requestID = text(.requestID)
        organization = text(.organization)
        at = int(.at)
        reservedAt = int(.reservedAt)
        estimatedTokens = int(.estimatedTokens)
        usage = TokenUsage(input: int(.input), cachedInput: int(.cachedInput), cacheWrite: int(.cacheWrite), output: int(.output), reasoning: int(.reasoning))
        costNanos = int(.cost)
        let latency = int(.latency), cache = int(.cacheHit)
        latencyMillis = latency < 0 ? nil : latency
        cacheHit = cache < 0 ? nil : cache == 1
        usageFormat = text(.usageFormat)
        overLimits = text(.overLimits).isEmpty ? [] : text(.overLimits).split(separator: ",").map(String.init)
        model = text(.model)
        provider = text(.provider)
        priceVersion = text(.priceVersion)
        user = text(.user)
        feature = text(.feature)
        session = text(.session)
        tier = text(.tier)
        key = text(.key)
        workspace = text(.workspace)
        experiment = text(.experiment)
        if failed { return nil }
    }

    /// The line `settle.lua` writes for this entry (for tests and tools that write ledgers).
    public var line: String {
        LedgerColumn.allCases.map { column -> String in
            switch column {
            case .format: LedgerColumn.formatVersion
            case .kind: kind.rawValue
            case .requestID: requestID
            case .organization: organization
            case .at: String(at)
            case .reservedAt: String(reservedAt)
            case .estimatedTokens: String(estimatedTokens)
            case .input: String(usage.input)
            case .cachedInput: String(usage.cachedInput)
            case .cacheWrite: String(usage.cacheWrite)
            case .output: String(usage.output)
            case .reasoning: String(usage.reasoning)
            case .cost: String(costNanos)
            case .latency: String(latencyMillis ?? -1)
            case .cacheHit: cacheHit.map { $0 ? "1" : "0" } ?? "-1"
            case .usageFormat: usageFormat
            case .overLimits: overLimits.joined(separator: ",")
            case .model: model
            case .provider: provider
            case .priceVersion: priceVersion
            case .user: user
            case .feature: feature
            case .session: session
            case .tier: tier
            case .key: key
            case .workspace: workspace
            case .experiment: experiment
            }
        }
        .joined(separator: "\t")
    }
}
