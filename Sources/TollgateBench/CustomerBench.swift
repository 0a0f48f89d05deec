import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import TollgateCore
import TollgateRedis

/// The customer store at scale: bulk loading, sustained provisioning writes, a change
/// stream under a steady rate of changes, and how fast a change reaches gateways.
/// Customers are o<i> ⊃ w<i> ⊃ k<i> (tier `pro`), as `gateway-load --keys` names them.
struct CustomerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customers",
        abstract: "Customer store: load N organizations+keys, measure create rates, churn at a fixed rate, or change visibility on gateways."
    )

    @Option(help: "load | write | churn | visibility") var action: String
    @Option(help: "Redis URL.") var url = "redis://127.0.0.1:6379"
    @Option(help: "Key prefix.") var prefix = "bench"
    @Option(help: "load: organizations to write (o<first>..); churn, visibility: how many exist.") var count = 1_000
    @Option(help: "First index.") var first = 1
    @Option(help: "Concurrent callers (load, write).") var concurrency = 8
    @Option(help: "Seconds (write, churn).") var seconds = 10.0
    @Option(help: "churn: changes per second.") var rate = 1_000
    @Option(help: "visibility: gateway base URLs, comma-separated.") var gateways = ""
    @Option(help: "visibility: the service token's secret.") var token = GatewayLoad.token
    @Option(help: "visibility: changes to time.") var rounds = 20

    func validate() throws {
        guard ["load", "write", "churn", "visibility"].contains(action) else { throw ValidationError("--action must be load, write, churn or visibility") }
        guard (1...10_000_000).contains(count), (1...256).contains(concurrency), (0.1...3_600).contains(seconds), (1...100_000).contains(rate), (1...1_000).contains(rounds) else {
            throw ValidationError("--count 1-10000000, --concurrency 1-256, --seconds 0.1-3600, --rate 1-100000, --rounds 1-1000")
        }
    }

    func run() async throws {
        var logger = Logger(label: "tollgate.bench")
        logger.logLevel = .warning
        let target = try RedisConnector.parse(url)
        var redisConfiguration = target.configuration
        redisConfiguration.connectionCount = max(2, min(concurrency, 16))
        redisConfiguration.commandTimeout = .seconds(30)
        let redis = RedisConnector.executor(target, configuration: redisConfiguration, logger: logger)
        let store = try await CustomerStore.open(redis: redis, keys: KeyLayout(prefix: prefix))
        switch action {
        case "load": try await load(store)
        case "write": await write(store)
        case "churn": await churn(store)
        default: try await visibility(store)
        }
        await redis.shutdown()
    }

    /// Bulk load in batches of 200 organisations (600 records per script call), `concurrency` calls in flight.
    func load(_ store: CustomerStore) async throws {
        let started = monotonicNanoseconds()
        let batches = stride(from: first, to: first + count, by: 200).map { $0..<min($0 + 200, first + count) }
        let next = SharedCount()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let index = next.value.add(1, ordering: .relaxed).oldValue
                        guard index < batches.count else { return }
                        let range = batches[index]
                        try await store.put(organizations: range.map { Organization(id: "o\($0)", tier: "pro") },
                                            workspaces: range.map { Workspace(id: "w\($0)", organization: "o\($0)") },
                                            keys: range.map { APIKey(id: "k\($0)", workspace: "w\($0)") })
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = Double(monotonicNanoseconds() - started) / 1e9
        print(String(format: "customers-load organizations=%d seconds=%.1f records_per_s=%.0f", count, elapsed, Double(count * 3) / elapsed))
    }

    /// Sustained provisioning: each call one all-or-nothing create of organisation + workspace + key.
    func write(_ store: CustomerStore) async {
        let run = Int.random(in: 0..<1_000_000_000)
        let summary = await measure(concurrency: concurrency, total: Int.max / 2, limit: .seconds(Int64(seconds))) { index in
            let id = "p\(run)-\(index)"
            do {
                try await store.createOrganization(Organization(id: "o" + id, tier: "pro"), workspace: Workspace(id: "w" + id, organization: "o" + id),
                                                   key: APIKey(id: "k" + id, workspace: "w" + id), actor: "bench")
                return true
            } catch {
                return false
            }
        }
        print(summary.line("customers-create-org-ws-key", concurrency: concurrency))
        let keys = await measure(concurrency: concurrency, total: Int.max / 2, limit: .seconds(Int64(seconds))) { index in
            (try? await store.createKey(APIKey(id: "kx\(run)-\(index)", workspace: "w\(first)"), actor: "bench")) != nil
        }
        print(keys.line("customers-create-key", concurrency: concurrency))
    }

    /// `rate` changes a second (a name change of a random organisation) for `seconds`.
    func churn(_ store: CustomerStore) async {
        let total = Int(Double(rate) * seconds)
        let started = monotonicNanoseconds()
        let interval = 1e9 / Double(rate)
        let done = SharedCount(), failed = SharedCount()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var index = worker
                    while index < total {
                        let due = started + UInt64(Double(index) * interval)
                        let now = monotonicNanoseconds()
                        if due > now { try? await Task.sleep(nanoseconds: due - now) }
                        let id = "o\(first + Int.random(in: 0..<count))"
                        do {
                            try await store.updateOrganization(id, actor: "bench") { $0.name = "churn-\(index)" }
                            done.value.add(1, ordering: .relaxed)
                        } catch {
                            failed.value.add(1, ordering: .relaxed)
                        }
                        index += concurrency
                    }
                }
            }
        }
        let elapsed = Double(monotonicNanoseconds() - started) / 1e9
        print(String(format: "customers-churn changes=%d failed=%d seconds=%.1f changes_per_s=%.0f", done.value.load(ordering: .relaxed),
                     failed.value.load(ordering: .relaxed), elapsed, Double(done.value.load(ordering: .relaxed)) / elapsed))
    }

    /// Suspends a key every gateway has cached and times until every gateway refuses it.
    func visibility(_ store: CustomerStore) async throws {
        let bases = gateways.split(separator: ",").map(String.init)
        guard !bases.isEmpty else { throw ValidationError("--gateways names none") }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var seen: [Double] = []
        for round in 0..<rounds {
            let key = "k\(first + (round * 7_919) % count)"
            for base in bases { _ = await status(client, base, key: key, id: "warm-\(round)") }
            let started = monotonicNanoseconds()
            _ = try await store.setSuspended(true, .key, key, actor: "bench")
            var remaining = Set(bases)
            var attempt = 0
            while !remaining.isEmpty, monotonicNanoseconds() - started < 10_000_000_000 {
                attempt += 1
                for base in remaining where await status(client, base, key: key, id: "poll-\(round)-\(attempt)") == 403 { remaining.remove(base) }
            }
            seen.append(remaining.isEmpty ? Double(monotonicNanoseconds() - started) / 1e6 : .infinity)
            _ = try await store.setSuspended(false, .key, key, actor: "bench")
        }
        try await client.shutdown()
        let sorted = seen.sorted()
        print(String(format: "customers-visibility gateways=%d rounds=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f", bases.count, rounds,
                     sorted[sorted.count / 2], sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))], sorted.last ?? 0))
    }

    func status(_ client: HTTPClient, _ base: String, key: String, id: String) async -> UInt {
        var request = HTTPClientRequest(url: base + "/v1/reserve")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"request_id":"\#(id)","api_key":"\#(key)","model":"gpt-4.1","input_tokens":10,"max_output_tokens":0}"#))
        guard let response = try? await client.execute(request, timeout: .seconds(5)) else { return 0 }
        _ = try? await response.body.collect(upTo: 1 << 20)
        return response.status.code
    }
}

/// A counter tasks share.
final class SharedCount: Sendable {
    let value = Atomic<Int>(0)
}
