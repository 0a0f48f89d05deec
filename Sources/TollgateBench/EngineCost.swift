import ArgumentParser
import Foundation
import Logging
import TollgateCore
import TollgateRedis

/// Redis-side cost of reserve and commit (three levels plus a user cap) side by side with
/// (a) a one-key INCRBY+PEXPIRE script and (b) the envoy-ratelimit pattern (INCRBY + EXPIRE per
/// descriptor, 16 descriptors, one pipeline per decision): `usec_per_call` from
/// `INFO commandstats` and Redis CPU per decision from `INFO cpu`. Then memory per active API
/// key and per retained (settled) call. Run it against a Redis that nothing else uses: it
/// resets the server's statistics.
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
    @Option(help: "Reserve+commit pairs for the retained-memory figure (0: skip).") var retentionCalls = 20_000
    @Flag(help: "Only the retained-memory run (with --retention-calls), e.g. 1,000,000 calls.") var retentionOnly = false
    @Option(help: "State layout the engine writes (1 or 2, settings.state_layout).") var stateLayout = Settings.StateLayout.header.rawValue

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
        var configuration = try Self.configuration(keys: activeKeys)
        guard let layout = Settings.StateLayout(rawValue: stateLayout) else { throw ValidationError("--state-layout must be 1 or 2") }
        configuration.settings.stateLayout = layout
        let settings = configuration.settings
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let plan = try configuration.plan(apiKey: "k0", user: "alice", at: now)
        let price = try configuration.price("gpt-4.1", for: plan, at: now)
        print("levels=\(plan.levels.map { $0.scope.rawValue }.joined(separator: ",")) buckets_per_window=\(settings.bucketsPerWindow) state_layout=\(settings.stateLayout.rawValue)")

        for round in 1...rounds where !argsOnly && !retentionOnly {
            let base = try await phase(client, "baseline", command: "evalsha") { index in
                [RedisCommand.evalsha(Self.baseline, keys: ["bench:base:\(index % 1_000)"], arguments: [1, 60_000])]
            }
            let envoy = try await phase(client, "envoy", command: "incrby") { index in Self.envoyDecision(index) }
            let ids = (0..<calls).map { "r\(round)-\($0)" }
            let reserve = try await phase(client, "reserve", command: "fcall") { index in
                [engine.reserveCommand(ReserveRequest(requestID: ids[index], model: "gpt-4.1", inputTokens: 500, maxOutputTokens: 200, user: "alice", feature: "chat"),
                                       plan: plan, price: price, settings: settings)]
            }
            let commit = try await phase(client, "commit", command: "fcall") { index in
                [engine.settleCommand(SettleRequest(kind: .commit, requestID: ids[index], usage: TokenUsage(input: 450, cachedInput: 50, output: 120)),
                                      plan: plan, settings: settings)]
            }
            // Reserves and their commits, 16 requests per call (QuotaScripts.reserveBatch, settleBatch).
            if let reserveBatch = engine.scripts.reserveBatch, let settleBatch = engine.scripts.settleBatch {
                let batchIDs = (0..<calls).map { "b\(round)-\($0)" }
                let reserved = try await phase(client, "reserve batch", command: "fcall", size: 16) { index in
                    [QuotaEngine.batchCommand(reserveBatch, (index..<min(calls, index + 16)).map { member in
                        engine.reserveCommand(ReserveRequest(requestID: batchIDs[member], model: "gpt-4.1", inputTokens: 500, maxOutputTokens: 200, user: "alice", feature: "chat"),
                                              plan: plan, price: price, settings: settings)
                    })]
                }
                let committed = try await phase(client, "commit batch", command: "fcall", size: 16) { index in
                    [QuotaEngine.batchCommand(settleBatch, (index..<min(calls, index + 16)).map { member in
                        engine.settleCommand(SettleRequest(kind: .commit, requestID: batchIDs[member], usage: TokenUsage(input: 450, cachedInput: 50, output: 120)),
                                             plan: plan, settings: settings)
                    })]
                }
                print(String(format: "round %d: in batches of 16: usec_per_decision reserve=%.2f commit=%.2f redis_cpu_us_per_decision reserve=%.2f commit=%.2f reserve+commit=%.2f",
                             round, reserved.usec, committed.usec, reserved.cpu, committed.cpu, reserved.cpu + committed.cpu))
            }
            // Model calls (reserve, then commit) from 64 concurrent callers through the engine,
            // each call on its own and then through a CallCoalescer, as a busy gateway sends them.
            for coalesced in [false, true] {
                let loaded = try await modelCallLoad(client, engine: engine, coalesced: coalesced, round: round, plan: plan, price: price, settings: settings)
                print(String(format: "round %d: load of 64 callers, %@: model_calls_per_second=%.0f redis_cpu_us_per_model_call=%.2f batches=%d batched_calls=%d",
                             round, coalesced ? "batched" : "one call each", loaded.perSecond, loaded.cpu, loaded.batches, loaded.batchedCalls))
            }
            print(String(format: "round %d: usec_per_call baseline=%.2f reserve=%.2f commit=%.2f ratio_reserve=%.2f ratio_commit=%.2f",
                         round, base.usec, reserve.usec, commit.usec, reserve.usec / base.usec, commit.usec / base.usec))
            print(String(format: "round %d: redis_cpu_us_per_decision baseline=%.2f envoy=%.2f reserve=%.2f commit=%.2f reserve+commit=%.2f (reserve+commit)/envoy=%.2f reserves_per_core_second=%.0f",
                         round, base.cpu, envoy.cpu, reserve.cpu, commit.cpu, reserve.cpu + commit.cpu, (reserve.cpu + commit.cpu) / envoy.cpu, 1e6 / reserve.cpu))
        }

        if retentionCalls > 0 && !argsOnly {
            try await retainedMemory(client: client, engine: engine, configuration: configuration, now: now)
        }
        if retentionOnly {
            await client.shutdown()
            return
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
        let holdRecord = try await client.send("HSTRLEN", stateKey, keys.holdField(id: "m1")).int ?? 0
        let holdsIndex = try await client.send("MEMORY", "USAGE", keys.holds(organization: "acme"), "SAMPLES", "0").int ?? 0
        let holdsCount = try await client.send("ZCARD", keys.holds(organization: "acme")).int ?? 1
        print(String(format: "memory: bytes_per_active_key=%.0f (state hash %d → %d bytes for %d keys) hold_field_value_bytes=%d hold_index_bytes_per_hold=%.0f",
                     perKey, before, after, activeKeys, holdRecord, Double(holdsIndex) / Double(max(1, holdsCount))))

        // The same keys busy in every bucket of a window (each bucket a reserve and its commit),
        // so every subject holds its whole ring: the state a key under steady traffic keeps.
        _ = try await client.send("DEL", stateKey)
        var busy = engine
        for bucket in 0..<Int64(settings.bucketsPerWindow) {
            busy.clockOffsetMillis = bucket * Int64(settings.bucketMilliseconds)
            for index in 0..<activeKeys {
                let keyPlan = try configuration.plan(apiKey: "k\(index)", at: now)
                let id = "b\(bucket)-\(index)"
                _ = try await busy.reserve(ReserveRequest(requestID: id, model: "gpt-4.1", inputTokens: 1, maxOutputTokens: 1), plan: keyPlan, price: price, settings: settings)
                _ = try await busy.settle(SettleRequest(kind: .commit, requestID: id, usage: TokenUsage(input: 1, output: 1)), plan: keyPlan, settings: settings)
            }
        }
        let busyState = try await client.send("MEMORY", "USAGE", stateKey, "SAMPLES", "0").int ?? 0
        print(String(format: "memory: bytes_per_busy_key=%.0f (state hash %d bytes for %d keys, each with traffic in all %d buckets of a window, no live hold)",
                     Double(busyState) / Double(activeKeys), busyState, activeKeys, settings.bucketsPerWindow))

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
        // The request digest (binary, the first argument after the keys) becomes a per-call
        // text field: redis-benchmark substitutes __rand_int__ but cannot send arbitrary bytes.
        var words = command.words
        words[3 + (command.keyCount ?? 0)] = "d:__rand_int__"
        let blob = Array(command.argument(command.argumentCount - 1))
        let numbers = stride(from: 0, to: blob.count, by: 8).map { offset in
            Int64(Double(bitPattern: blob[offset..<(offset + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }))
        }
        let json = "[" + numbers.map(String.init).joined(separator: ",") + "]"
        try (words.dropLast() + [json]).map { $0.isEmpty ? "''" : "'\($0)'" }.joined(separator: " ")
            .write(toFile: redisBenchmarkArgs, atomically: true, encoding: .utf8)
        print("reserve_function=\(engine.scripts.reserve.function ?? engine.scripts.reserve.sha1)")
    }

    /// One envoy-ratelimit decision: INCRBY + EXPIRE for 16 descriptors (4 levels × tpm, rpm,
    /// daily and monthly spend), as one pipeline.
    static func envoyDecision(_ index: Int) -> [RedisCommand] {
        var commands: [RedisCommand] = []
        for level in ["k:k\(index % 1_000)", "w:web", "o", "u:alice"] {
            for (limit, amount, seconds) in [("tpm", 700, 60), ("rpm", 1, 60), ("day", 2_600_000, 86_400), ("month", 2_600_000, 2_678_400)] {
                let key = "bench:envoy:\(level):\(limit)"
                commands.append(RedisCommand("INCRBY", [key, amount]))
                commands.append(RedisCommand("EXPIRE", [key, seconds]))
            }
        }
        return commands
    }

    /// Sends `calls` decisions, 64 calls at a time (each decision's commands as one pipeline;
    /// `size` decisions per call when a call is a batch, made for its first decision's index),
    /// then reads `usec_per_call` of `command` and Redis' CPU (user + system), per decision.
    func phase(_ client: RedisClient, _ name: String, command: String, size: Int = 1,
               _ make: @escaping @Sendable (Int) -> [RedisCommand]) async throws -> (usec: Double, cpu: Double) {
        _ = try await client.send("CONFIG", "RESETSTAT")
        let cpuBefore = try await Self.cpuSeconds(client)
        var index = 0
        while index < calls {
            let batch = Array(stride(from: index, to: min(calls, index + 64 * size), by: size))
            let results = await withTaskGroup(of: [Result<RedisReply, RedisError>].self) { group in
                if batch.count > 0, make(batch[0]).count == 1 {
                    group.addTask { await client.pipeline(batch.map { make($0)[0] }) }
                } else {
                    for decision in batch { group.addTask { await client.pipeline(make(decision)) } }
                }
                return await group.reduce(into: [Result<RedisReply, RedisError>]()) { $0 += $1 }
            }
            for result in results {
                if case .failure(let error) = result { throw ValidationError("\(name) failed: \(error)") }
                if case .success(let reply) = result, case .error(let message) = reply { throw ValidationError("\(name) failed: \(message)") }
                if size > 1, case .success(let reply) = result, let failed = reply.array?.first(where: { if case .error = $0 { true } else { false } }) {
                    throw ValidationError("\(name) failed: \(failed)")
                }
            }
            index += batch.count * size
        }
        let cpuAfter = try await Self.cpuSeconds(client)
        let stats = try await client.send("INFO", "commandstats").string ?? ""
        guard let line = stats.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_\(command):") }),
              let field = line.split(separator: ",").first(where: { $0.hasPrefix("usec_per_call=") }),
              let value = Double(field.dropFirst("usec_per_call=".count)) else {
            throw ValidationError("no \(command) statistics")
        }
        return (value / Double(size), (cpuAfter - cpuBefore) * 1e6 / Double(calls))
    }

    /// `calls` model calls (a reserve and its commit) from 64 concurrent callers through
    /// `engine`, with a coalescer of its own when `coalesced`: model calls per second and Redis
    /// CPU per model call, and how many calls went in batches.
    func modelCallLoad(_ client: RedisClient, engine: QuotaEngine, coalesced: Bool, round: Int, plan: RequestPlan, price: ResolvedPrice,
                       settings: Settings) async throws -> (perSecond: Double, cpu: Double, batches: Int, batchedCalls: Int) {
        var engine = engine
        engine.coalescer = coalesced ? CallCoalescer(redis: client) : nil
        let callers = 64
        let cpuBefore = try await Self.cpuSeconds(client)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask { [engine] in
                    for index in stride(from: caller, to: calls, by: callers) {
                        let id = "l\(round)-\(coalesced ? "b" : "s")-\(index)"
                        _ = try await engine.reserve(ReserveRequest(requestID: id, model: "gpt-4.1", inputTokens: 500, maxOutputTokens: 200, user: "alice", feature: "chat"),
                                                     plan: plan, price: price, settings: settings)
                        _ = try await engine.settle(SettleRequest(kind: .commit, requestID: id, usage: TokenUsage(input: 450, cachedInput: 50, output: 120)),
                                                    plan: plan, settings: settings)
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let cpuAfter = try await Self.cpuSeconds(client)
        return (Double(calls) / seconds, (cpuAfter - cpuBefore) * 1e6 / Double(calls),
                engine.coalescer?.batches ?? 0, engine.coalescer?.batchedCalls ?? 0)
    }

    static func cpuSeconds(_ client: RedisClient) async throws -> Double {
        let info = try await client.send("INFO", "cpu").string ?? ""
        return info.split(separator: "\r\n").reduce(0) { total, line in
            guard line.hasPrefix("used_cpu_sys:") || line.hasPrefix("used_cpu_user:"), let value = Double(line.split(separator: ":")[1]) else { return total }
            return total + value
        }
    }

    static func usedMemory(_ client: RedisClient) async throws -> Int64 {
        let info = try await client.send("INFO", "memory").string ?? ""
        guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("used_memory:") }), let value = Int64(line.dropFirst("used_memory:".count)) else {
            throw ValidationError("no used_memory in INFO memory")
        }
        return value
    }

    /// Memory a settled call leaves behind, in one run: `retentionCalls` reserve+commit pairs of
    /// a fresh organisation (the `INFO memory` delta, less the ledger stream's growth, per call),
    /// beside the same number of request records as main kept them before engine v2 (one
    /// string key per request id with a TTL, the committed record's bytes).
    func retainedMemory(client: RedisClient, engine: QuotaEngine, configuration: TollgateConfiguration, now: Int64) async throws {
        let settings = configuration.settings
        let plan = try configuration.plan(apiKey: "k1", user: "alice", at: now)
        let price = try configuration.price("gpt-4.1", for: plan, at: now)
        let ledger = engine.keys.ledger(organization: plan.organization.id)
        let run = UUID().uuidString.prefix(8)
        func id(_ index: Int) -> String { "\(run)-\(String(index, radix: 16))-0000-4000-8000-00000000" }
        _ = try await client.send("DEL", ledger)
        let before = try await Self.usedMemory(client)
        var index = 0
        while index < retentionCalls {
            let batch = Array(index..<min(retentionCalls, index + 256))
            let reserves = batch.map { engine.reserveCommand(ReserveRequest(requestID: id($0), model: "gpt-4.1", inputTokens: 500, maxOutputTokens: 200, user: "alice"),
                                                             plan: plan, price: price, settings: settings) }
            let commits = batch.map { engine.settleCommand(SettleRequest(kind: .commit, requestID: id($0), usage: TokenUsage(input: 450, cachedInput: 50, output: 120)),
                                                           plan: plan, settings: settings) }
            for result in await client.pipeline(reserves) + client.pipeline(commits) {
                if case .failure(let error) = result { throw ValidationError("retention run failed: \(error)") }
            }
            index += batch.count
        }
        let after = try await Self.usedMemory(client)
        let stream = try await client.send("MEMORY", "USAGE", ledger, "SAMPLES", "0").int ?? 0
        let entries = try await client.send("XLEN", ledger).int ?? 0
        let retained = Double(after - before - stream) / Double(retentionCalls)

        // Main before engine v2: one key per request id, 'C' + 8 doubles + '\n' + version '\t' model, kept for the retention.
        let legacyRecord = "C" + String(repeating: "\u{1}", count: 64) + "\n" + price.versionID + "\t" + price.model
        let legacyBefore = try await Self.usedMemory(client)
        index = 0
        while index < retentionCalls {
            let batch = (index..<min(retentionCalls, index + 256)).map { number in
                RedisCommand("SET", [engine.keys.request(organization: "legacy", id: id(number)), legacyRecord, "PX", settings.idempotencyMilliseconds])
            }
            _ = await client.pipeline(batch)
            index += batch.count
        }
        let legacy = Double(try await Self.usedMemory(client) - legacyBefore) / Double(retentionCalls)
        print(String(format: "retained: calls=%d bytes_per_retained_call=%.1f legacy_bytes_per_call=%.1f ratio=%.2f ledger_bytes_per_entry=%.1f used_memory_after_calls=%d (ledger %d bytes, %d entries) idempotency_buckets=%d",
                     retentionCalls, retained, legacy, retained / legacy, Double(stream) / Double(max(1, entries)), after, stream, entries, settings.idempotencyBuckets))
        _ = try await client.send("DEL", ledger)
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
