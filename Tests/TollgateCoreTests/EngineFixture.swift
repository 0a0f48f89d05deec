import Foundation
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// An engine on the shared test Redis, under a fresh key prefix, with a small configuration:
/// organisation `acme` (tier `standard`) ⊃ workspace `web` ⊃ key `k1` (and `k2`), and a
/// model `test-model` at $1 per 1M input tokens and $2 per 1M output tokens.
struct EngineFixture {
    let client: any RedisExecutor
    let keys: KeyLayout
    var engine: QuotaEngine
    var configuration: TollgateConfiguration

    static let prices = try! TokenPrices(input: "1.00", output: "2.00", cachedInput: "0.50", cacheWrite: "1.25")

    static func standardTier(_ limits: Limits, userCaps: UserCaps? = nil, holdSeconds: Int = 600) -> Tier {
        Tier(name: "standard", limits: limits, userCaps: userCaps, defaultOutputTokens: 100, holdSeconds: holdSeconds, timezone: "UTC")
    }

    static func make(
        limits: Limits = Limits(tpm: 10_000, rpm: 100, dailyBudget: try! Money(decimal: "1.00"), monthlyBudget: try! Money(decimal: "10.00")),
        userCaps: UserCaps? = nil,
        keyOverrides: Limits = .none,
        settings: Settings = Settings(),
        holdSeconds: Int = 600,
        name: String = #function
    ) async throws -> EngineFixture {
        let client = try await TestRedis.client(connections: 2)
        let keys = KeyLayout(prefix: uniquePrefix(name), partitions: settings.partitions)
        let scripts = try QuotaScripts.load()
        let configuration = TollgateConfiguration(
            settings: settings,
            pricing: PriceCatalogue([ModelPricing(model: "test-model", provider: "test", aliases: ["test-model-2025-01-01"],
                                                  versions: [PriceVersion(version: 1, effectiveFrom: 0, prices: prices)])]),
            tiers: [standardTier(limits, userCaps: userCaps, holdSeconds: holdSeconds)],
            organizations: [Organization(id: "acme", tier: "standard")],
            workspaces: [Workspace(id: "web", organization: "acme")],
            keys: [APIKey(id: "k1", workspace: "web", overrides: keyOverrides), APIKey(id: "k2", workspace: "web")])
        #expect(configuration.problems == [])
        // Calls made at once go in batches, as in the gateway (CallCoalescer).
        let engine = QuotaEngine(redis: client, keys: keys, scripts: scripts, coalescer: CallCoalescer(redis: client))
        return EngineFixture(client: client, keys: keys, engine: engine, configuration: configuration)
    }

    var settings: Settings { configuration.settings }

    func plan(key: String = "k1", user: String? = nil) throws -> RequestPlan {
        try configuration.plan(apiKey: key, user: user, at: Self.now)
    }

    func price(_ model: String = "test-model") throws -> ResolvedPrice {
        try configuration.price(model, for: plan(), at: Self.now)
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// An engine whose scripts see Redis' clock moved by `offset`.
    /// The fixture's engine with its clock `offset` later.
    func shifted(by offset: Duration) -> QuotaEngine {
        var shifted = engine
        shifted.clockOffsetMillis += offset.components.seconds * 1_000 + offset.components.attoseconds / 1_000_000_000_000_000
        return shifted
    }

    /// The fixture with its engine's clock at noon UTC of the day: for a test whose traffic
    /// takes a while (or runs an engine ahead), so that no UTC midnight falls inside it.
    func atNoon() -> EngineFixture {
        let day: Int64 = 86_400_000
        var pinned = self
        pinned.engine.clockOffsetMillis = day / 2 - Int64(Date().timeIntervalSince1970 * 1_000) % day
        return pinned
    }

    func reserve(_ id: String, input: Int64, output: Int64? = nil, key: String = "k1", user: String? = nil,
                 engine: QuotaEngine? = nil) async throws -> ReserveDecision {
        let plan = try plan(key: key, user: user)
        return try await (engine ?? self.engine).reserve(
            ReserveRequest(requestID: id, model: "test-model", inputTokens: input, maxOutputTokens: output, user: user),
            plan: plan, price: price(), settings: settings)
    }

    func commit(_ id: String, _ usage: TokenUsage, key: String = "k1", engine: QuotaEngine? = nil) async throws -> Settlement {
        try await (engine ?? self.engine).settle(SettleRequest(kind: .commit, requestID: id, usage: usage), plan: plan(key: key), settings: settings)
    }

    func record(_ id: String, _ usage: TokenUsage, key: String = "k1", user: String? = nil, price: ResolvedPrice? = nil) async throws -> Settlement {
        try await engine.settle(SettleRequest(kind: .record, requestID: id, usage: usage, price: try price ?? self.price(), user: user),
                                plan: plan(key: key, user: user), settings: settings)
    }

    func release(_ id: String, mode: QuotaEngine.ReleaseMode = .release, engine: QuotaEngine? = nil) async throws -> ReleaseOutcome {
        try await (engine ?? self.engine).release(requestID: id, organization: "acme", timezoneOffsetMillis: 0, mode: mode, settings: settings)
    }

    func quota(key: String = "k1", user: String? = nil, engine: QuotaEngine? = nil) async throws -> QuotaSnapshot {
        try await (engine ?? self.engine).quota(plan: plan(key: key, user: user), settings: settings)
    }

    /// Every key under the prefix with its content in a canonical form (hash fields sorted):
    /// equal snapshots mean nothing changed. (`DUMP` is not stable for hash tables: even a
    /// read may advance an incremental rehash and change the iteration order.)
    func snapshot() async throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        do {
            for name in try await client.allKeys(prefix: keys.prefix + ":") {
                let type = try await client.send("TYPE", name).string ?? "?"
                let content: RedisReply
                switch type {
                case "hash": content = try await client.send("HGETALL", name)
                case "zset": content = try await client.send("ZRANGE", name, 0, -1, "WITHSCORES")
                case "stream": content = try await client.send("XRANGE", name, "-", "+")
                default: content = try await client.send("DUMP", name)
                }
                var items = (content.array ?? [content]).map(Self.canonical)
                if type == "hash" {
                    items = stride(from: 0, to: items.count - 1, by: 2).map { items[$0] + "=" + items[$0 + 1] }.sorted()
                }
                result[name] = [type] + items
            }
        }
        return result
    }

    /// The whole reply as text: bulk strings in full hex, nested arrays flattened in order.
    static func canonical(_ reply: RedisReply) -> String {
        switch reply {
        case .bulk(let bytes): bytes.map { String($0, radix: 16) }.joined(separator: ".")
        case .array(let elements): "[" + elements.map(canonical).joined(separator: ",") + "]"
        default: "\(reply)"
        }
    }

    func ledger() async throws -> [LedgerEntry] {
        let reply = try await client.send("XRANGE", keys.ledger(organization: "acme"), "-", "+")
        return (reply.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let fields = parts[1].array,
                  fields.count == 2, fields[0].string == "e", let line = fields[1].string else { return nil }
            return LedgerEntry(id: id, line: line)
        }
    }

    func cleanUp() async throws {
        try await client.deleteKeys(prefix: keys.prefix + ":")
        await client.shutdown()
    }
}

extension Money {
    static func usd(_ text: String) -> Money { try! Money(decimal: text) }
}

extension ReserveDecision {
    var hold: Hold? {
        if case .allowed(let hold, _) = self { return hold }
        return nil
    }

    var refusal: LimitRefusal? {
        if case .limited(let refusal, _) = self { return refusal }
        return nil
    }
}
