import ArgumentParser
import Foundation
import Logging
import TollgateCore
import TollgateRedis

/// Redis-side cost of reserve and commit (three levels plus a user cap) against a one-key
/// INCRBY+PEXPIRE baseline, from `INFO commandstats`, and memory per active API key.
/// Run it against a Redis that nothing else uses: it resets the server's statistics.
struct EngineCost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine-cost",
        abstract: "Server time per call of reserve/commit vs a one-key script, and memory per active key."
    )

    @Option(help: "Redis URL (a server used by nothing else).") var url = "redis://127.0.0.1:6379"
    @Option(help: "Calls per phase.") var calls = 20_000
    @Option(help: "Rounds of baseline / reserve / commit.") var rounds = 2
    @Option(help: "Active API keys for the memory figure.") var activeKeys = 1_000
    @Option(help: "Write the redis-benchmark argument line for reserve to this file.") var redisBenchmarkArgs: String?
    @Flag(help: "Only write --redis-benchmark-args (and load the script); measure nothing.") var argsOnly = false
    @Option(help: "Key prefix.") var prefix = "bench"

    static let baseline = RedisScript(name: "incr-expire", source: """
        local value = redis.call('INCRBY', KEYS[1], ARGV[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return value
        """)

    func run() async throws {
        var logger = Logger(label: "tollgate.bench")
        logger.logLevel = .warning
        var redisConfiguration = try RedisConfiguration(url: url)
        redisConfiguration.commandTimeout = .seconds(10)
        let client = RedisClient(configuration: redisConfiguration, logger: logger)
        let keys = KeyLayout(prefix: prefix, partitions: 16)
        let engine = QuotaEngine(redis: client, keys: keys, scripts: try QuotaScripts.load())
        let configuration = try Self.configuration(keys: activeKeys)
        let settings = configuration.settings
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let plan = try configuration.plan(apiKey: "k0", user: "alice", at: now)
        let price = try configuration.price("gpt-4.1", for: plan, at: now)
        print("levels=\(plan.levels.map { $0.scope.rawValue }.joined(separator: ",")) buckets_per_window=\(settings.bucketsPerWindow)")

        var ratios: [(Double, Double)] = []
        for round in 1...rounds where !argsOnly {
            let base = try await phase(client, "baseline") { index in
                RedisCommand.evalsha(Self.baseline, keys: ["bench:base:\(index % 1_000)"], arguments: [1, 60_000])
            }
            let ids = (0..<calls).map { "r\(round)-\($0)" }
            let reserve = try await phase(client, "reserve") { index in
                engine.reserveCommand(ReserveRequest(requestID: ids[index], model: "gpt-4.1", inputTokens: 500, maxOutputTokens: 200, user: "alice", feature: "chat"),
                                      plan: plan, price: price, settings: settings)
            }
            let commit = try await phase(client, "commit") { index in
                engine.settleCommand(SettleRequest(kind: .commit, requestID: ids[index], usage: TokenUsage(input: 450, cachedInput: 50, output: 120)),
                                     plan: plan, settings: settings)
            }
            print(String(format: "round %d: usec_per_call baseline=%.2f reserve=%.2f commit=%.2f ratio_reserve=%.2f ratio_commit=%.2f",
                         round, base, reserve, commit, reserve / base, commit / base))
            ratios.append((reserve / base, commit / base))
        }

        if argsOnly {
            try await writeRedisBenchmarkArguments(engine: engine, plan: plan, price: price, settings: settings)
            _ = try await client.send(.scriptLoad(engine.scripts.reserve))
            await client.shutdown()
            return
        }

        // Memory per active API key: one reservation on each of N keys of a fresh organisation.
        let memoryPlan = try configuration.plan(apiKey: "k0", at: now)
        let stateKey = keys.state(organization: memoryPlan.organization.id)
        _ = try await client.send("DEL", stateKey)
        _ = try await engine.reserve(ReserveRequest(requestID: "warm", model: "gpt-4.1", inputTokens: 1, maxOutputTokens: 1), plan: memoryPlan, price: price, settings: settings)
        let before = try await client.send("MEMORY", "USAGE", stateKey, "SAMPLES", "0").int ?? 0
        for index in 1..<activeKeys {
            let keyPlan = try configuration.plan(apiKey: "k\(index)", at: now)
            _ = try await engine.reserve(ReserveRequest(requestID: "m\(index)", model: "gpt-4.1", inputTokens: 1, maxOutputTokens: 1), plan: keyPlan, price: price, settings: settings)
        }
        let after = try await client.send("MEMORY", "USAGE", stateKey, "SAMPLES", "0").int ?? 0
        let perKey = Double(after - before) / Double(activeKeys - 1)
        let holdRecord = try await client.send("MEMORY", "USAGE", keys.request(organization: "acme", id: "m1")).int ?? 0
        let holdsIndex = try await client.send("MEMORY", "USAGE", keys.holds(organization: "acme"), "SAMPLES", "0").int ?? 0
        let holdsCount = try await client.send("ZCARD", keys.holds(organization: "acme")).int ?? 1
        print(String(format: "memory: bytes_per_active_key=%.0f (state hash %d → %d bytes for %d keys) hold_record_bytes=%d hold_index_bytes_per_hold=%.0f",
                     perKey, before, after, activeKeys, holdRecord, Double(holdsIndex) / Double(max(1, holdsCount))))

        try await writeRedisBenchmarkArguments(engine: engine, plan: plan, price: price, settings: settings)
        await client.shutdown()
    }

    func writeRedisBenchmarkArguments(engine: QuotaEngine, plan: RequestPlan, price: ResolvedPrice, settings: Settings) async throws {
        guard let redisBenchmarkArgs else { return }
        // The same reserve as redis-benchmark arguments, with a random request id per call.
        let command = engine.reserveCommand(ReserveRequest(requestID: "__rand_int__", model: "gpt-4.1", inputTokens: 500, maxOutputTokens: 200, user: "alice", feature: "chat"),
                                            plan: plan, price: price, settings: settings)
        // As shell words for redis-benchmark, which cannot send NUL bytes: the packed
        // numbers (the last argument) go as the JSON array the scripts also accept.
        let words = command.words
        let blob = Array(command.argument(command.argumentCount - 1))
        let numbers = stride(from: 0, to: blob.count, by: 8).map { offset in
            Int64(Double(bitPattern: blob[offset..<(offset + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }))
        }
        let json = "[" + numbers.map(String.init).joined(separator: ",") + "]"
        try (words.dropLast() + [json]).map { $0.isEmpty ? "''" : "'\($0)'" }.joined(separator: " ")
            .write(toFile: redisBenchmarkArgs, atomically: true, encoding: .utf8)
        print("reserve_sha=\(engine.scripts.reserve.sha1)")
    }

    /// Sends `calls` commands 64 at a time, then reads EVALSHA's usec_per_call.
    func phase(_ client: RedisClient, _ name: String, _ make: @escaping @Sendable (Int) -> RedisCommand) async throws -> Double {
        _ = try await client.send("CONFIG", "RESETSTAT")
        var index = 0
        while index < calls {
            let batch = (index..<min(calls, index + 64)).map(make)
            let results = await client.pipeline(batch)
            if let failure = results.first(where: { if case .failure = $0 { return true }; return false }), case .failure(let error) = failure {
                throw ValidationError("\(name) failed: \(error)")
            }
            index += batch.count
        }
        let stats = try await client.send("INFO", "commandstats").string ?? ""
        guard let line = stats.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_evalsha:") }),
              let field = line.split(separator: ",").first(where: { $0.hasPrefix("usec_per_call=") }),
              let value = Double(field.dropFirst("usec_per_call=".count)) else {
            throw ValidationError("no evalsha statistics")
        }
        return value
    }

    /// acme ⊃ web ⊃ k0…kN; every level limited, and a per-user cap.
    static func configuration(keys: Int) throws -> TollgateConfiguration {
        let catalogue = try DefaultCatalogue.load().catalogue
        let tier = Tier(name: "pro", limits: Limits(tpm: 1_000_000_000, rpm: 100_000_000, dailyBudget: try Money(decimal: "1000000"), monthlyBudget: try Money(decimal: "10000000")),
                        userCaps: UserCaps(tpm: 1_000_000_000, dailySpend: try Money(decimal: "1000000")))
        let organization = Organization(id: "acme", tier: "pro")
        let workspace = Workspace(id: "web", organization: "acme", tier: "pro")
        let apiKeys = (0..<keys).map { APIKey(id: "k\($0)", workspace: "web", overrides: Limits(tpm: 1_000_000_000, dailyBudget: try! Money(decimal: "100000"))) }
        return TollgateConfiguration(pricing: catalogue, tiers: [tier], organizations: [organization], workspaces: [workspace], keys: apiKeys)
    }
}
