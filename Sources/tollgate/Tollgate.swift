import ArgumentParser

@main
struct Tollgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract: "Distributed quota enforcement for LLM API usage.",
        subcommands: [ServeCommand.self, PingCommand.self]
    )
}
