import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateGateway
import TollgateRedis

/// A gateway on a real Redis under a fresh key prefix, driven through its router without
/// sockets. Organisations `acme` (tier `standard`, fails closed) and `globex` (tier
/// `lenient`, fails open); keys `k1`, `k2` in acme's `web`, `g1` in globex's `apps`; the
/// model `test-model` at $1 / $2 per 1M input / output tokens; a token for everyone and one
/// for globex only.
struct GatewayFixture {
    let client: any RedisExecutor
    let prefix: String
    let gateway: Gateway
    let spoolDirectory: String

    static let token = "tg_test_all_3f9d2c"
    static let globexToken = "tg_test_globex_77aa10"

    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func configuration(standard: Limits = Limits(tpm: 10_000, rpm: 100, dailyBudget: try! Money(decimal: "1.00")),
                              settings: Settings = Settings()) -> TollgateConfiguration {
        TollgateConfiguration(
            settings: settings,
            pricing: PriceCatalogue([ModelPricing(model: "test-model", provider: "openai", aliases: ["test-model-2025"],
                                                  versions: [PriceVersion(version: 1, effectiveFrom: 0, prices: try! TokenPrices(input: "1.00", output: "2.00", cachedInput: "0.50"))])]),
            tiers: [
                Tier(name: "standard", limits: standard, userCaps: UserCaps(tpm: 5_000), defaultOutputTokens: 100, failureMode: .closed),
                Tier(name: "lenient", limits: Limits(tpm: 1_000_000), failureMode: .open),
            ],
            organizations: [Organization(id: "acme", tier: "standard"), Organization(id: "globex", tier: "lenient"), Organization(id: "initech", tier: "standard", suspended: true)],
            workspaces: [Workspace(id: "web", organization: "acme"), Workspace(id: "apps", organization: "globex"), Workspace(id: "ops", organization: "initech")],
            keys: [APIKey(id: "k1", workspace: "web"), APIKey(id: "k2", workspace: "web", suspended: true), APIKey(id: "g1", workspace: "apps"),
                   APIKey(id: "i1", workspace: "ops")],
            tokens: [
                ServiceToken(id: "all", name: "all", sha256: sha256(token), createdAt: 0),
                ServiceToken(id: "globex-only", name: "globex", sha256: sha256(globexToken), organizations: ["globex"], createdAt: 0),
            ])
    }

    static func make(_ configuration: TollgateConfiguration = configuration(), server: RedisServer? = nil,
                     gatewayConfiguration: GatewayConfiguration = GatewayConfiguration(), spoolPath: String? = nil, logger: Logger = .quiet,
                     redisTimeout: Duration? = nil, name: String = #function) async throws -> GatewayFixture {
        // A test that injects faults into its own server keeps a short timeout, so the breaker
        // opens fast; on the shared server, where nothing fails, the timeout only has to outlast
        // a loaded CI machine's scheduling (every suite runs in parallel on two cores).
        let timeout = redisTimeout ?? (server == nil ? .milliseconds(300) + schedulingSlack : .milliseconds(300))
        let redisConfiguration = if let server { server.configuration(timeout: timeout) } else { try await TestRedis.configuration(timeout: timeout) }
        let client: any RedisExecutor = if let server { server.client(timeout: timeout) } else { try await TestRedis.client(timeout: timeout) }
        let prefix = uniquePrefix(name)
        let spoolDirectory = try RedisServer.makeTemporaryDirectory()
        var gatewayConfiguration = gatewayConfiguration
        gatewayConfiguration.spoolPath = spoolPath ?? spoolDirectory + "/spool.jsonl"
        let gateway = try Gateway(configuration: gatewayConfiguration, redis: client, redisConfiguration: redisConfiguration,
                                  keyPrefix: prefix, registry: PrometheusCollectorRegistry(), logger: logger)
        let fixture = GatewayFixture(client: client, prefix: prefix, gateway: gateway, spoolDirectory: spoolDirectory)
        try await fixture.write(configuration)
        return fixture
    }

    var store: ConfigurationStore { ConfigurationStore(redis: client, keys: KeyLayout(prefix: prefix)) }

    /// Stores a configuration and makes the gateway load it.
    func write(_ configuration: TollgateConfiguration) async throws {
        try await store.update { current in
            current = configuration
            return ConfigurationStore.Change(actor: "test", action: "replace")
        }
        // The refresh moves the document's customers into records first (several script
        // calls): on a loaded machine one may time out, and the watcher would retry on its next
        // poll — here, at once, a few times.
        let written = try await store.load().version
        for _ in 0..<10 {
            await gateway.watcher.refresh()
            if let version = gateway.watcher.version, version > written { break }
        }
        await gateway.customerFeed.poll()
        #expect(gateway.watcher.snapshot != nil)
    }

    func run<Value: Sendable>(_ test: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = Application(router: gateway.buildRouter(), logger: .quiet)
        return try await app.test(.router, test)
    }

    static func headers(token: String? = GatewayFixture.token) -> HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json"]
        if let token { fields[.authorization] = "Bearer \(token)" }
        return fields
    }

    static func body(_ json: String) -> ByteBuffer { ByteBuffer(string: json) }

    var keys: KeyLayout { KeyLayout(prefix: prefix, partitions: 16) }

    /// Every key of the quota state (not the configuration) in canonical form.
    func quotaState() async throws -> [String: String] {
        var result: [String: String] = [:]
        do {
            for name in try await client.allKeys(prefix: prefix + ":{p") {
                let type = try await client.send("TYPE", name).string ?? "?"
                let content: RedisReply = switch type {
                case "hash": try await client.send("HGETALL", name)
                case "zset": try await client.send("ZRANGE", name, 0, -1, "WITHSCORES")
                case "stream": try await client.send("XRANGE", name, "-", "+")
                default: try await client.send("GET", name)
                }
                var items = (content.array ?? [content]).map { item -> String in
                    if case .bulk(let bytes) = item { return bytes.map { String($0, radix: 16) }.joined(separator: ".") }
                    return "\(item)"
                }
                if type == "hash" { items = stride(from: 0, to: items.count - 1, by: 2).map { items[$0] + "=" + items[$0 + 1] }.sorted() }
                result[name] = items.joined(separator: "|")
            }
        }
        return result
    }

    func cleanUp() async throws {
        try await client.deleteKeys(prefix: prefix + ":")
        await client.shutdown()
    }
}

extension TestResponse {
    var json: JSONValue? { try? JSONValue.parse(Array(body.readableBytesView)) }
    var errorCode: String? { json?["error"]?["code"]?.stringValue }
}
