import ArgumentParser
import Foundation
import Logging
import TollgateCore
import TollgateRedis

/// Fills a Redis with what the dashboard benchmark reads: a configuration of N organisations
/// (one UTC tier, a workspace and a key each), M priced models, and D days of day roll-ups
/// per organisation (two rows a day, models cycled), as the monitor writes them.
struct DashboardData: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard-data",
        abstract: "Write the dashboard benchmark's configuration and day roll-ups (Scripts/bench-dashboard.sh)."
    )

    @Option(help: "Redis URL.") var url = "redis://127.0.0.1:6379"
    @Option(help: "Key prefix.") var prefix = "tg"
    @Option(help: "Organisations.") var organizations = 10_000
    @Option(help: "Models.") var models = 100
    @Option(help: "Days of roll-ups, ending today (UTC).") var days = 30

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
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let labels = (0..<days).map { RollupPeriod.day.label(now - Int64($0) * 86_400_000, timezone: TimeZone(identifier: "UTC")!) }
        var written = 0
        for (index, organization) in names.enumerated() {
            var commands: [RedisCommand] = []
            for (day, label) in labels.enumerated() {
                var arguments: [any RedisArgument] = [keys.rollup(organization: organization, period: .day, label: label)]
                for row in 0..<2 {
                    let model = modelNames[(index + day + row) % models]
                    let dimensions = RollupDimensions(workspace: "\(organization)-ws", key: "\(organization)-key", model: model,
                                                      user: "user-\(row)", feature: "feature-\(day % 3)").encoded
                    let requests = Int64(10 + (index + day) % 90)
                    for (metric, value) in [("requests", requests), ("input", requests * 900), ("output", requests * 300),
                                            ("cost", requests * 1_500_000)] {
                        arguments += [dimensions + "\t" + metric, value]
                    }
                }
                commands.append(RedisCommand("HSET", arguments, keyIndex: 1))
            }
            for result in await client.pipeline(commands) { _ = try result.get() }
            written += commands.count
        }
        print("dashboard-data organizations=\(organizations) models=\(models) days=\(days) rollup_hashes=\(written)")
        await client.shutdown()
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
