import ArgumentParser
import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateRedis

/// A bounded HTTP load on gateway nodes: reservations (and commits) at several concurrencies,
/// spread round-robin over the nodes given.
struct GatewayLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway-load",
        abstract: "Reserve (+commit) through gateway nodes over HTTP; prints calls/s and p50/p99 per concurrency."
    )

    static let token = "tg_bench_5b1c9e77a0d4"

    @Option(help: "Gateway base URLs, comma-separated.") var urls = "http://127.0.0.1:8080"
    @Option(help: "Concurrent callers, comma-separated.") var concurrency = "1,64"
    @Option(help: "'reserve' (reserve only) or 'pair' (reserve then commit).") var mode = "pair"
    @Option(help: "Seconds per run.") var seconds = 10.0
    @Option(help: "Write the benchmark configuration to this Redis (with --prefix) and exit.") var setupRedis: String?
    @Option(help: "Key prefix for --setup-redis.") var prefix = "bench"
    @Option(help: "Label printed with each line.") var label = "gateway"
    @Option(help: "Organizations (o<i> ⊃ w<i> ⊃ k<i>) for --setup-redis; 1 is acme ⊃ web ⊃ k0.") var organizations = 1
    @Option(help: "With --setup-redis, also write the configuration JSON here (for engine-load).") var writeConfig: String?
    @Option(help: "Spread calls over API keys k0..k<N-1>.") var keys = 1

    func run() async throws {
        if let setupRedis {
            try await setup(setupRedis)
            return
        }
        let bases = urls.split(separator: ",").map(String.init)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let run = Int.random(in: 0..<1_000_000_000)
        for level in concurrency.split(separator: ",").compactMap({ Int($0) }) {
            let keyCount = max(1, keys)
            let summary = await measure(concurrency: level, total: Int.max / 2, limit: .seconds(Int64(seconds))) { index in
                let base = bases[index % bases.count]
                let id = "b\(run)-\(level)-\(index)"
                let key = "k\(index % keyCount)"
                guard await Self.post(client, base + "/v1/reserve", #"{"request_id":"\#(id)","api_key":"\#(key)","model":"gpt-4.1","input_tokens":500,"max_output_tokens":200,"user":"alice"}"#) == 200 else {
                    return false
                }
                if mode == "pair" {
                    return await Self.post(client, bases[(index + 1) % bases.count] + "/v1/commit",
                                           #"{"request_id":"\#(id)","api_key":"\#(key)","usage":{"input_tokens":450,"output_tokens":120,"total_tokens":570}}"#) == 200
                }
                return true
            }
            print(summary.line("\(label)-\(mode)", concurrency: level, extra: "nodes=\(bases.count)"))
        }
        try await client.shutdown()
    }

    static func post(_ client: HTTPClient, _ url: String, _ body: String) async -> UInt {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        guard let response = try? await client.execute(request, timeout: .seconds(10)) else { return 0 }
        _ = try? await response.body.collect(upTo: 1 << 20)
        return response.status.code
    }

    /// The engine benchmark's configuration (acme ⊃ web ⊃ k0, every level limited, a user
    /// cap, limits far above the load) plus a service token; with `--organizations N`, N
    /// organizations o<i> ⊃ w<i> ⊃ k<i> alike, spread over the partitions (and so a cluster's slots).
    func setup(_ url: String) async throws {
        var logger = Logger(label: "tollgate.bench")
        logger.logLevel = .warning
        let target = try RedisConnector.parse(url)
        let redis = RedisConnector.executor(target, configuration: target.configuration, logger: logger)
        var configuration = try EngineCost.configuration(keys: 1)
        if organizations > 1 {
            let template = configuration
            configuration.organizations = [:]
            configuration.workspaces = [:]
            configuration.keys = [:]
            for index in 0..<organizations {
                configuration.organizations["o\(index)"] = Organization(id: "o\(index)", tier: "pro")
                configuration.workspaces["w\(index)"] = Workspace(id: "w\(index)", organization: "o\(index)", tier: "pro")
                var key = template.keys["k0"]!
                key.id = "k\(index)"
                key.workspace = "w\(index)"
                configuration.keys[key.id] = key
            }
        }
        let hash = SHA256.hash(data: Array(Self.token.utf8)).map { String(format: "%02x", $0) }.joined()
        configuration.tokens["bench"] = ServiceToken(id: "bench", name: "bench", sha256: hash, createdAt: 0)
        try await ConfigurationStore(redis: redis, keys: KeyLayout(prefix: prefix)).update { current in
            current = configuration
            return ConfigurationStore.Change(actor: "bench", action: "replace")
        }
        // The customers become records now (the first process to open the store would do it).
        _ = try await CustomerStore.open(redis: redis, keys: KeyLayout(prefix: prefix))
        if let writeConfig { try configuration.encodeJSON(pretty: true).write(to: URL(fileURLWithPath: writeConfig)) }
        await redis.shutdown()
    }
}
