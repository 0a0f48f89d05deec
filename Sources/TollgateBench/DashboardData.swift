import ArgumentParser
import Foundation
import Logging
import TollgateCore
import TollgateRedis

/// Fills a Redis with what the dashboard benchmark reads: a configuration of N organisations
/// (one UTC tier, a workspace and a key each), M priced models, and D days of usage per
/// organisation — one `record` a day each through the engine (settle.lua, the clock set back
/// to that day), so the ledger holds what gateways write. A running monitor rolls it up;
/// with `--wait` this command waits until it has (every partition's lag and pending at 0)
/// and prints how long that took.
struct DashboardData: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard-data",
        abstract: "Write the dashboard benchmark's configuration and ledger (Scripts/bench-dashboard.sh)."
    )

    @Option(help: "Redis URL.") var url = "redis://127.0.0.1:6379"
    @Option(help: "Key prefix.") var prefix = "tg"
    @Option(help: "Organisations.") var organizations = 10_000
    @Option(help: "Models.") var models = 100
    @Option(help: "Days of usage, ending today (UTC).") var days = 30
    @Flag(help: "Wait until a monitor has rolled the ledger up.") var wait = false

    func run() async throws {
        var logger = Logger(label: "tollgate.bench")
        logger.logLevel = .warning
        var redisConfiguration = try RedisConfiguration(url: url)
        redisConfiguration.commandTimeout = .seconds(30)
        let client = RedisClient(configuration: redisConfiguration, logger: logger)
        let keys = KeyLayout(prefix: prefix)
        let names = (0..<organizations).map { "org\(String($0).leftPadded(5))" }
        let modelNames = (0..<models).map { "model-\($0)" }
        let tier = Tier(name: "bench", limits: Limits(tpm: 1_000_000, monthlyBudget: try Money(decimal: "1000.00")))
        let configuration = TollgateConfiguration(
            pricing: PriceCatalogue(try modelNames.map { ModelPricing(model: $0, provider: "bench",
                                                                       versions: [PriceVersion(version: 1, effectiveFrom: 0, prices: try TokenPrices(input: "1.00", output: "2.00"))]) }),
            tiers: [tier],
            organizations: names.map { Organization(id: $0, tier: "bench") },
            workspaces: names.map { Workspace(id: "\($0)-ws", organization: $0) },
            keys: names.map { APIKey(id: "\($0)-key", workspace: "\($0)-ws") })
        try await ConfigurationStore(redis: client, keys: keys).update { current in
            current = configuration
            return ConfigurationStore.Change(actor: "bench", action: "replace")
        }
        _ = try await CustomerStore.open(redis: client, keys: keys)
        let scripts = try QuotaScripts.load()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var written = 0
        for day in 0..<days {
            let offset = -Int64(day) * 86_400_000
            let engine = QuotaEngine(redis: client, keys: keys, scripts: scripts, clockOffsetMillis: offset)
            var commands: [RedisCommand] = []
            for (index, organization) in names.enumerated() {
                let plan = try configuration.plan(apiKey: "\(organization)-key", at: now + offset)
                let price = try configuration.price(modelNames[(index + day) % models], for: plan, at: now + offset)
                let tokens = Int64(10 + (index + day) % 90)
                let request = SettleRequest(kind: .record, requestID: "bench-\(organization)-\(day)",
                                            usage: TokenUsage(input: tokens * 900, cachedInput: tokens * 100, output: tokens * 300), price: price,
                                            user: "user-\(index % 7)", feature: "feature-\(day % 3)", experiment: "variant-\(index % 2)",
                                            latencyMillis: 100 + tokens * 10, cacheHit: (index + day) % 3 != 0)
                commands.append(engine.settleCommand(request, plan: plan, settings: configuration.settings))
            }
            for start in stride(from: 0, to: commands.count, by: 500) {
                for result in await client.pipeline(Array(commands[start..<min(start + 500, commands.count)])) { _ = try result.get() }
            }
            written += commands.count
        }
        print("dashboard-data organizations=\(organizations) models=\(models) days=\(days) ledger_entries=\(written)")
        if wait {
            let started = ContinuousClock.now
            while try await backlog(client, keys) > 0 { try await Task.sleep(for: .milliseconds(200)) }
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(String(format: "dashboard-data rolled_up=%d seconds=%.1f entries_per_second=%.0f", written, seconds, Double(written) / max(seconds, 0.001)))
        }
        await client.shutdown()
    }

    /// Entries not yet rolled up: every partition's consumer-group lag plus pending (an
    /// unknown group counts as one: the monitor has not started yet).
    func backlog(_ client: RedisClient, _ keys: KeyLayout) async throws -> Int64 {
        var total: Int64 = 0
        for partition in 0..<keys.partitions {
            let groups = (try? await client.send(RedisCommand("XINFO", "GROUPS", keys.ledger(partition: partition), keyIndex: 2)).array) ?? []
            guard !groups.isEmpty else { total += 1; continue }
            for group in groups {
                let fields = group.array ?? []
                for index in stride(from: 0, to: fields.count - 1, by: 2) where ["lag", "pending"].contains(fields[index].string ?? "") {
                    total += fields[index + 1].int ?? 1
                }
            }
        }
        return total
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
