import ArgumentParser

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-bench",
        abstract: "Tollgate's benchmarks. Each prints one line per run; Scripts/bench-*.sh run them side by side with redis-benchmark.",
        subcommands: [RedisClientBench.self, EngineLoad.self, EngineCost.self, GatewayLoad.self, DashboardData.self, TokenizerBench.self, AdminAPILoad.self,
                      CustomerBench.self]
    )
}
