import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RedisTestSupport
import TollgateCore
import TollgateRedis

/// A `tollgate admin-api` process on a free loopback port over a fresh prefix of the shared
/// Redis, seeded with a currency, a price, a tier and one admin token per scope.
final class AdminAPIProcess: Sendable {
    let port: Int
    let process: ChildProcess
    let prefix: String
    let redisURL: String
    let redis: any RedisExecutor

    /// The secret of each scope's token (their ids: `atok_admin`, `atok_provisioner`, `atok_read-only`).
    static func secret(_ scope: AdminToken.Scope) -> String { "tga_test_\(scope.rawValue)_7c1e" }

    static func tokenID(_ scope: AdminToken.Scope) -> String { "atok_\(scope.rawValue)" }

    static func seed(tiers: [Tier] = [Tier(name: "standard", limits: Limits(tpm: 100_000))]) throws -> TollgateConfiguration {
        TollgateConfiguration(
            pricing: PriceCatalogue([ModelPricing(model: "test-model", provider: "test",
                                                  versions: [PriceVersion(version: 1, effectiveFrom: 0, prices: try TokenPrices(input: "1.00", output: "2.00"))])]),
            tiers: tiers,
            adminTokens: AdminToken.Scope.allCases.map { scope in
                AdminToken(id: tokenID(scope), name: "test \(scope.rawValue)", sha256: Secret.sha256Hex(secret(scope)), scope: scope, createdAt: 0)
            })
    }

    init(name: String = #function, seed: TollgateConfiguration? = nil, extra: [String] = []) async throws {
        prefix = uniquePrefix(name)
        redisURL = try await TestRedis.url()
        redis = try await TestRedis.client(connections: 4)
        let configuration = try seed ?? Self.seed()
        try await ConfigurationStore(redis: redis, keys: KeyLayout(prefix: prefix)).change(actor: "seed", action: "seed") { stored in
            stored = configuration
            return AuditValues(old: "", new: "")
        }
        if configuration.tiers["standard"] != nil {
            // One customer to name: acme ⊃ web ⊃ k1.
            try await CustomerStore.open(redis: redis, keys: KeyLayout(prefix: prefix)).createOrganization(
                Organization(id: "acme", tier: "standard"), workspace: Workspace(id: "web", organization: "acme"), key: APIKey(id: "k1", workspace: "web"),
                actor: "seed")
        }
        port = try RedisServer.freeLoopbackPort()
        process = try ChildProcess(try ChildProcess.executable("tollgate"), [
            "admin-api", "--redis", redisURL, "--prefix", prefix, "--port", String(port), "--poll-ms", "100", "--redis-timeout-ms", "2000",
            "--log-level", "warning",
        ] + extra)
        for _ in 0..<200 {
            if let reply = try? await send(.GET, "/readyz", token: nil), reply.status == .ok { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.signal(SIGKILL)
        _ = await process.wait(timeout: .seconds(5))
        throw HarnessError("admin-api did not become ready: \(process.output.suffix(1_000))")
    }

    struct Reply: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var json: JSONValue?
        var text: String

        /// Whether this is the API's JSON error shape with a 4xx status.
        var isClientError: Bool {
            (400..<500).contains(Int(status.code)) && json?["error"]?["code"]?.stringValue != nil && json?["error"]?["message"]?.stringValue != nil
        }
    }

    func send(_ method: HTTPMethod, _ path: String, body: String? = nil, token: AdminToken.Scope? = .admin,
              headers extra: [(String, String)] = [], contentType: String = "application/json") async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(Self.secret(token))") }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
        let bytes = try await response.body.collect(upTo: 8 << 20)
        return Reply(status: response.status, headers: response.headers, json: try? JSONValue.parse(bytes.readableBytesView), text: String(buffer: bytes))
    }

    /// Every key under this process's prefix with its DUMP, sorted: comparable before and after.
    func state() async throws -> [String] {
        var lines: [String] = []
        for key in try await redis.allKeys(prefix: prefix + ":").sorted() {
            let dump = try await redis.send(.keyed("DUMP", key)).bytes ?? []
            var hash: UInt64 = 14_695_981_039_346_656_037
            for byte in dump { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
            lines.append("\(key) \(dump.count) \(hash)")
        }
        return lines
    }

    func version() async throws -> Int64 { try await redis.send("GET", "\(prefix):{cfg}:version").int ?? 0 }

    var customers: CustomerStore { CustomerStore(redis: redis, keys: KeyLayout(prefix: prefix)) }

    func configuration() async throws -> TollgateConfiguration {
        try await ConfigurationStore(redis: redis, keys: KeyLayout(prefix: prefix)).load().configuration
    }

    func stop() async {
        process.signal(SIGTERM)
        _ = await process.wait(timeout: .seconds(10))
        try? await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }
}
