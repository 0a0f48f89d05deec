import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TollgateCore
import Synchronization
import TollgateRedis

/// Creating API keys through the admin API, side by side with the same creates made
/// directly through `CustomerStore` (no HTTP, no authentication, no idempotency: the floor).
/// `--setup-redis` first loads organisations (each with a workspace and a key) through the store.
struct AdminAPILoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin-api-load",
        abstract: "Create keys through the admin API and directly through the store; prints p50/p99 per concurrency. --setup-redis loads organisations first."
    )

    /// The admin token's secret the setup stores (scope provisioner).
    static let secret = "tga_bench_2f0c5d8e91ab"

    @Option(help: "Admin API base URL.") var url = "http://127.0.0.1:8070"
    @Option(help: "Redis URL (the store side of the comparison, and --setup-redis's target).") var redis = "redis://127.0.0.1:6379"
    @Option(help: "Key prefix.") var prefix = "bench"
    @Option(help: "Concurrent callers, comma-separated.") var concurrency = "1,16"
    @Option(help: "Keys created per run (at most).") var creates = 2_000
    @Option(help: "Seconds per run (at most).") var seconds = 30
    @Flag(help: "Load --organizations organisations (o<i> ⊃ w<i> ⊃ k<i>, i from 1), a tier and the admin token into --redis, then exit.") var setupRedis = false
    @Option(help: "Organisations for --setup-redis.") var organizations = 1_000
    @Option(help: "Creates in flight while loading.") var loadConcurrency = 64

    func run() async throws {
        var logger = Logger(label: "tollgate.bench")
        logger.logLevel = .warning
        let target = try RedisConnector.parse(redis)
        var redisConfiguration = target.configuration
        redisConfiguration.connectionCount = 4
        redisConfiguration.commandTimeout = .seconds(10)
        let client = RedisConnector.executor(target, configuration: redisConfiguration, logger: logger)
        let keys = KeyLayout(prefix: prefix)
        if setupRedis {
            try await setup(client, keys)
        } else {
            try await measure(CustomerStore(redis: client, keys: keys))
        }
        await client.shutdown()
    }

    func setup(_ redis: any RedisExecutor, _ keys: KeyLayout) async throws {
        try await ConfigurationStore(redis: redis, keys: keys).change(actor: "bench", action: "bench setup") { configuration in
            configuration.tiers["bench"] = Tier(name: "bench", limits: Limits(tpm: 1_000_000))
            configuration.adminTokens["atok_bench"] = AdminToken(id: "atok_bench", name: "bench", sha256: Secret.sha256Hex(Self.secret), scope: .provisioner, createdAt: 0)
            return AuditValues(old: "", new: "")
        }
        let store = try await CustomerStore.open(redis: redis, keys: keys)
        let existing = try await store.count(.organization)
        let started = monotonicNanoseconds()
        let next = Counter(existing)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<loadConcurrency {
                group.addTask {
                    while let index = next.take(below: organizations) {
                        let id = index + 1
                        try await store.createOrganization(Organization(id: "o\(id)", tier: "bench"), workspace: Workspace(id: "w\(id)", organization: "o\(id)"),
                                                           key: APIKey(id: "k\(id)", workspace: "w\(id)"), actor: "bench")
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = Double(monotonicNanoseconds() - started) / 1e9
        let loaded = try await store.count(.organization)
        print(String(format: "admin-api-setup organizations=%d loaded_now=%d seconds=%.1f creates_per_s=%.0f", loaded, loaded - existing, elapsed,
                     Double(loaded - existing) / max(elapsed, 0.001)))
    }

    func measure(_ store: CustomerStore) async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let run = Int.random(in: 0..<1_000_000_000)
        let workspaces = max(1, try await store.count(.workspace))
        for level in concurrency.split(separator: ",").compactMap({ Int($0) }) {
            let api = await TollgateBench.measure(concurrency: level, total: creates, limit: .seconds(Int64(seconds))) { index in
                var request = HTTPClientRequest(url: url + "/v1/keys")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(Self.secret)")
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "Idempotency-Key", value: "bench-\(run)-\(level)-\(index)")
                request.body = .bytes(ByteBuffer(string: #"{"id":"a\#(run)-\#(level)-\#(index)","workspace":"w\#(index % workspaces + 1)"}"#))
                guard let response = try? await http.execute(request, timeout: .seconds(10)) else { return false }
                _ = try? await response.body.collect(upTo: 1 << 16)
                return response.status == .created
            }
            print(api.line("admin-api-create-key", concurrency: level, extra: "organizations=\(workspaces)"))
            let direct = await TollgateBench.measure(concurrency: level, total: creates, limit: .seconds(Int64(seconds))) { index in
                (try? await store.createKey(APIKey(id: "d\(run)-\(level)-\(index)", workspace: "w\(index % workspaces + 1)"), actor: "bench")) != nil
            }
            print(direct.line("store-create-key", concurrency: level, extra: "organizations=\(workspaces)"))
            print(String(format: "admin-api-over-store c=%d p50_ratio=%.2f p99_ratio=%.2f", level,
                         api.percentileMilliseconds(50) / max(direct.percentileMilliseconds(50), 0.000_001),
                         api.percentileMilliseconds(99) / max(direct.percentileMilliseconds(99), 0.000_001)))
        }
        try await http.shutdown()
    }
}

/// Hands out indexes to concurrent loaders.
private final class Counter: Sendable {
    private let next: Mutex<Int>
    init(_ start: Int) { next = Mutex(start) }
    func take(below limit: Int) -> Int? {
        next.withLock { value in
            guard value < limit else { return nil }
            defer { value += 1 }
            return value
        }
    }
}
