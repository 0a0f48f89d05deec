import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// Which level of an organization a budget command is about.
struct LevelSelection: ParsableArguments {
    @Option(name: .customLong("org"), help: "The organization.") var organization: String
    @Option(help: "A workspace of it.") var workspace: String?
    @Option(help: "An API key of it.") var key: String?
    @Option(help: "An end user (a per-user cap; with --workspace or --key, the cap of that workspace's tier).") var user: String?

    /// `--user`, when given, is 1-128 characters.
    func validateUser() throws {
        if let user, user.isEmpty || user.count > 128 { throw AdminError.invalid("--user must be 1-128 characters") }
    }

    /// The narrowest level named, checked against the configuration. A user's caps are those of
    /// the tier governing the workspace named (`--workspace`, or `--key`'s), else of the one tier
    /// that caps users in the organization.
    func level(in configuration: TollgateConfiguration) throws -> LevelPlan {
        guard let org = configuration.organizations[organization], let orgTier = configuration.tiers[org.tier] else {
            throw AdminError("unknown organization '\(organization)'")
        }
        var apiKey: APIKey?
        if let key {
            guard let found = configuration.keys[key], configuration.workspaces[found.workspace]?.organization == organization else {
                throw AdminError("unknown key '\(key)' in organization '\(organization)'")
            }
            apiKey = found
        }
        var named: Workspace?
        if let workspace {
            guard let ws = configuration.workspaces[workspace], ws.organization == organization else {
                throw AdminError("unknown workspace '\(workspace)' in organization '\(organization)'")
            }
            named = ws
        }
        if let apiKey, let named, apiKey.workspace != named.id {
            throw AdminError("key '\(apiKey.id)' is not in workspace '\(named.id)'")
        }
        if let user {
            try validateUser()
            let tier: Tier?
            if let ws = named ?? apiKey.flatMap({ configuration.workspaces[$0.workspace] }) {
                tier = configuration.governingTier(of: ws)
            } else {
                let capping = configuration.userCapTiers(of: organization)
                guard capping.count <= 1 else {
                    throw AdminError("users of '\(organization)' have different caps in different workspaces (tiers \(capping.map(\.name).joined(separator: ", "))): name --workspace or --key")
                }
                tier = capping.first
            }
            return tier?.userLevel(user) ?? LevelPlan(scope: .user, id: user, limits: .none)
        }
        if let apiKey { return configuration.keyLevel(apiKey) }
        if let named { return configuration.workspaceLevel(named) }
        return configuration.organizationLevel(org, tier: orgTier)
    }
}

extension AdminContext {
    func engine(_ configuration: TollgateConfiguration) throws -> QuotaEngine {
        QuotaEngine(redis: redis, keys: KeyLayout(prefix: options.prefix, partitions: configuration.settings.partitions), scripts: try QuotaScripts.load())
    }
}

/// `tollgate budget …`
public struct BudgetCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "budget", abstract: "Read budgets for the current period, and correct them (audited, with a reason).",
        subcommands: [Show.self, Credit.self, Reset.self])
    public init() {}

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Spent, held and remaining for the current day and month.")
        @OptionGroup var options: AdminOptions
        @OptionGroup var selection: LevelSelection

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load(including: selection.organization)
                let level = try selection.level(in: configuration)
                let timezone = configuration.timezone(of: selection.organization)
                let quota = try await context.engine(configuration).quota(organization: selection.organization, levels: [level], timezone: timezone, settings: configuration.settings)
                let usage = quota.levels[0]
                func remaining(_ limit: Money?, _ spent: Money, _ held: Money) -> String {
                    limit.map { Money(nanos: max(0, $0.nanos - spent.nanos - held.nanos), currency: $0.currency).decimalString } ?? "unlimited"
                }
                context.output.table(["period", "limit", "spent", "held", "remaining", "tokens", "resets_at"], [
                    ["period": "day", "limit": level.limits.dailyBudget?.decimalString ?? "none", "spent": usage.daySpent.decimalString,
                     "held": usage.dayHeld.decimalString, "remaining": remaining(level.limits.dailyBudget, usage.daySpent, usage.dayHeld),
                     "tokens": String(usage.dayTokens), "resets_at": Timestamp.format(quota.dayResetsAt)],
                    ["period": "month", "limit": level.limits.monthlyBudget?.decimalString ?? "none", "spent": usage.monthSpent.decimalString,
                     "held": usage.monthHeld.decimalString, "remaining": remaining(level.limits.monthlyBudget, usage.monthSpent, usage.monthHeld),
                     "tokens": String(usage.monthTokens), "resets_at": Timestamp.format(quota.monthResetsAt)],
                ])
            }
        }
    }

    struct Credit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give back an amount of the current period's spend (e.g. after a provider refund).")
        @OptionGroup var options: AdminOptions
        @OptionGroup var selection: LevelSelection
        @OptionGroup var correction: Correction
        @Option(help: "The amount to credit, e.g. 12.50.") var amount: String

        func run() async throws { try await correct(options, selection, correction, amount: amount) }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the current period's spend to zero.")
        @OptionGroup var options: AdminOptions
        @OptionGroup var selection: LevelSelection
        @OptionGroup var correction: Correction

        func run() async throws { try await correct(options, selection, correction, amount: nil) }
    }

    /// What every correction names: the period it changes and why.
    struct Correction: ParsableArguments {
        @Option(help: "day or month.") var period: String
        @Option(help: "Why (required: it goes to the audit log).") var reason: String

        func validate() throws {
            guard ["day", "month"].contains(period) else { throw ValidationError("--period must be day or month") }
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
        }
    }

    static func correct(_ options: AdminOptions, _ selection: LevelSelection, _ correction: Correction, amount: String?) async throws {
        try await AdminContext.run(options) { context in
            let configuration = try await context.load().configuration
            try selection.validateUser()
            let credit = try amount.map { try InputParsing.money($0, currency: configuration.settings.currency, option: "--amount") }
            let result = try await BudgetCorrection(organization: selection.organization, workspace: selection.workspace, key: selection.key,
                                                    user: selection.user, period: correction.period == "day" ? .day : .month, credit: credit)
                .apply(customers: try await context.customers(), configuration: configuration, scripts: try QuotaScripts.load(),
                       actor: context.options.actor, reason: correction.reason)
            context.output.record([("level", result.level), ("period", result.period), ("spent_before", result.spentBefore), ("spent_after", result.spentAfter)])
        }
    }
}
