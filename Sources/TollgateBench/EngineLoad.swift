import ArgumentParser
import Foundation
import Logging
import TollgateCore
import TollgateRedis

/// A bounded load of reservations (and commits) against the engine, from one process.
/// Prints one JSON line per decision, for tests that check invariants across processes,
/// and a summary line for benchmarks.
struct EngineLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine-load",
        abstract: "Reserve (and commit) against the quota engine from one process, for tests and benchmarks."
    )

    @Option(help: "Redis URL.") var url = "redis://127.0.0.1:6379"
    @Option(help: "Key prefix of the deployment under test.") var prefix = "tg"
    @Option(help: "Configuration JSON file (a TollgateConfiguration).") var config: String
    @Option(help: "API keys to spread requests over, comma-separated.") var keys = "k1"
    @Option(help: "Model to reserve.") var model = "test-model"
    @Option(help: "Concurrent callers.") var concurrency = 8
    @Option(help: "Connections in the client's pool.") var connections = 2
    @Option(help: "Stop after this many seconds.") var seconds = 10.0
    @Option(help: "Stop after this many requests per caller.") var requests = 1_000_000
    @Option(help: "Smallest input-token estimate.") var minTokens: Int64 = 100
    @Option(help: "Largest input-token estimate.") var maxTokens: Int64 = 900
    @Option(help: "Commit each admitted request: 'exact' (actual = estimate), 'less' (random ≤ estimate), 'none'.") var commit = "exact"
    @Option(help: "Request id prefix, unique per process.") var idPrefix = "p\(getpid())"
    @Flag(help: "Print one JSON line per decision.") var lines = false
    @Flag(inversion: .prefixedNo, help: "Batch calls of a partition while one is in flight (CallCoalescer), as the gateway does.") var batchCalls = true

    func run() async throws {
        var logger = Logger(label: "tollgate.bench")
        logger.logLevel = .warning
        let configuration = try TollgateConfiguration.decodeJSON(Data(contentsOf: URL(fileURLWithPath: config)))
        let target = try RedisConnector.parse(url)
        var redisConfiguration = target.configuration
        redisConfiguration.connectionCount = connections
        redisConfiguration.commandTimeout = .seconds(5)
        let client = RedisConnector.executor(target, configuration: redisConfiguration, logger: logger)
        let engine = QuotaEngine(redis: client, keys: KeyLayout(prefix: prefix, partitions: configuration.settings.partitions), scripts: try QuotaScripts.load(),
                                 coalescer: batchCalls ? CallCoalescer(redis: client) : nil)
        let keyList = keys.split(separator: ",").map(String.init)
        let deadline = Date().addingTimeInterval(seconds)
        let settings = configuration.settings
        let (minTokens, maxTokens, commitMode, model, idPrefix, lines, requests) = (self.minTokens, self.maxTokens, commit, self.model, self.idPrefix, self.lines, self.requests)

        let started = Date()
        let totals = try await withThrowingTaskGroup(of: (Int, Int, Int).self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var (allowed, limited, errors) = (0, 0, 0)
                    var index = 0
                    while Date() < deadline && index < requests {
                        index += 1
                        let id = "\(idPrefix)-\(worker)-\(index)"
                        let key = keyList[(worker + index) % keyList.count]
                        let input = Int64.random(in: minTokens...maxTokens)
                        do {
                            let now = Int64(Date().timeIntervalSince1970 * 1000)
                            let plan = try configuration.plan(apiKey: key, at: now)
                            let price = try configuration.price(model, for: plan, at: now)
                            let decision = try await engine.reserve(ReserveRequest(requestID: id, model: model, inputTokens: input, maxOutputTokens: 0),
                                                                    plan: plan, price: price, settings: settings)
                            switch decision {
                            case .allowed(let hold, _):
                                allowed += 1
                                var cost = hold.estimatedCost.nanos
                                if commitMode != "none" {
                                    let actual = commitMode == "less" ? Int64.random(in: 0...input) : input
                                    let settlement = try await engine.settle(SettleRequest(kind: .commit, requestID: id, usage: TokenUsage(input: actual)),
                                                                             plan: plan, settings: settings)
                                    cost = settlement.cost.nanos
                                }
                                if lines { print(#"{"rid":"\#(id)","key":"\#(key)","at":\#(hold.reservedAt),"tokens":\#(hold.estimatedTokens),"cost":\#(cost),"allowed":true}"#) }
                            case .limited(let refusal, _):
                                limited += 1
                                if lines { print(#"{"rid":"\#(id)","key":"\#(key)","reason":"\#(refusal.reason.rawValue)","allowed":false}"#) }
                                if let retry = refusal.retryAfter { try await Task.sleep(for: min(retry, .milliseconds(50))) }
                            default:
                                errors += 1
                            }
                        } catch {
                            errors += 1
                            if lines { print(#"{"rid":"\#(id)","error":"\#(error)"}"#) }
                        }
                    }
                    return (allowed, limited, errors)
                }
            }
            return try await group.reduce((0, 0, 0)) { ($0.0 + $1.0, $0.1 + $1.1, $0.2 + $1.2) }
        }
        let elapsed = Date().timeIntervalSince(started)
        print("engine-load allowed=\(totals.0) limited=\(totals.1) errors=\(totals.2) seconds=\(String(format: "%.2f", elapsed)) decisions_per_second=\(Int(Double(totals.0 + totals.1) / elapsed)) batches=\(engine.coalescer?.batches ?? 0) batched_calls=\(engine.coalescer?.batchedCalls ?? 0)")
        await client.shutdown()
    }
}
