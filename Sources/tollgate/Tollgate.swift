import ArgumentParser
import TollgateAdmin

@main
struct Tollgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract: "Distributed quota enforcement for LLM API usage.",
        subcommands: [
            ServeCommand.self, MonitorCommand.self, DashboardCommand.self, AdminAPICommand.self, SpoolCommand.self,
            PriceCommand.self, TierCommand.self, OrgCommand.self, WorkspaceCommand.self, KeyCommand.self, TokenCommand.self, TokensCommand.self, DashboardTokenCommand.self,
            AdminTokenCommand.self, BudgetCommand.self, UsageCommand.self, StatusCommand.self, WatchCommand.self, AuditCommand.self, ConfigCommand.self, ACLCommand.self, PingCommand.self,
        ]
    )
}
