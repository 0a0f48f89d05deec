import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// `tollgate org …`
public struct OrgCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "org", abstract: "Manage organizations (tenants): tier, limit overrides, suspension.",
        subcommands: [Create.self, List.self, Show.self, Set.self, Suspend.self, Resume.self, Remove.self])
    public init() {}

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an organization (with its first workspace and key, all or nothing, if named).")
        @OptionGroup var options: AdminOptions
        @Argument(help: "Organization id.") var id: String
        @Option(help: "Its tier.") var tier: String
        @Option(help: "Display name.") var name: String?
        @Option(help: "Also create this workspace in it.") var workspace: String?
        @Option(help: "Also create this API key in that workspace.") var key: String?
        @OptionGroup var limits: LimitOptions
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func validate() throws {
            if key != nil && workspace == nil { throw ValidationError("--key needs --workspace") }
        }

        func run() async throws {
            try await AdminContext.run(options) { context in
                _ = try InputParsing.identifier(id, what: "the organization id")
                let store = try await context.customers()
                let organization = Organization(id: id, name: name, tier: tier, overrides: try limits.apply(to: .none, currency: store.currency))
                let workspace = try workspace.map { Workspace(id: try InputParsing.identifier($0, what: "the workspace id"), organization: id) }
                let key = try key.map { APIKey(id: try InputParsing.identifier($0, what: "the key id"), workspace: workspace?.id ?? "") }
                try await store.createOrganization(organization, workspace: workspace, key: key, actor: options.actor, reason: reason)
                context.announce("org create \(id)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Organizations, by id (a page at a time with --after and --limit).")
        @OptionGroup var options: AdminOptions
        @OptionGroup var page: PageOptions

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                var rows: [[String: String]] = []
                try await page.walk({ try await store.organizations(after: $0, limit: $1) }) { org in
                    let workspaces = try await context.redis.send(.keyed("ZCARD", store.keys.organizationWorkspaces(org.id))).int ?? 0
                    rows.append(["id": org.id, "name": org.name, "tier": org.tier, "overrides": org.overrides.summary, "suspended": String(org.suspended),
                                 "workspaces": String(workspaces)])
                }
                context.output.table(["id", "name", "tier", "overrides", "suspended", "workspaces"], rows)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One organization with its workspaces and keys.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                guard let tree = try await store.tree(of: id) else { throw AdminError("unknown organization '\(id)'") }
                let org = tree.organization
                let partitions = try await context.load().configuration.settings.partitions
                context.output.record([("id", org.id), ("name", org.name), ("tier", org.tier), ("overrides", org.overrides.summary),
                                       ("suspended", String(org.suspended)), ("partition", String(KeyLayout(partitions: partitions).partition(of: id))),
                                       ("workspaces", tree.workspaces.map(\.id).sorted().joined(separator: ",")),
                                       ("keys", tree.keys.map(\.id).sorted().joined(separator: ","))])
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an organization's tier, name or limit overrides.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "New tier.") var tier: String?
        @Option(help: "New display name.") var name: String?
        @OptionGroup var limits: LimitOptions
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                _ = try await context.announcing("org set \(id)") {
                    try await store.updateOrganization(id, actor: options.actor, reason: reason) { org in
                        if let tier { org.tier = tier }
                        if let name { org.name = name }
                        org.overrides = try limits.apply(to: org.overrides, currency: store.currency)
                    }
                }
            }
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse every request of an organization (403).")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await setSuspended(true, options, .organization, id: id, reason: reason) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a suspension.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await setSuspended(false, options, .organization, id: id, reason: reason) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete an organization with all its workspaces and keys.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await remove(options, .organization, id: id, reason: reason) }
    }
}

/// `tollgate workspace …`
public struct WorkspaceCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "workspace", abstract: "Manage workspaces: an organization's teams or products, optionally with their own tier.",
        subcommands: [Create.self, List.self, Show.self, Set.self, Suspend.self, Resume.self, Remove.self])
    public init() {}

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a workspace in an organization.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "Workspace id.") var id: String
        @Option(name: .customLong("org"), help: "Its organization.") var organization: String
        @Option(help: "Its own tier (default: the organization's governs).") var tier: String?
        @Option(help: "Display name.") var name: String?
        @OptionGroup var limits: LimitOptions
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                _ = try InputParsing.identifier(id, what: "the workspace id")
                let store = try await context.customers()
                let workspace = Workspace(id: id, organization: organization, name: name, tier: tier,
                                          overrides: try limits.apply(to: .none, currency: store.currency))
                try await store.createWorkspace(workspace, actor: options.actor, reason: reason)
                context.announce("workspace create \(id)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Workspaces, of one organization or all.")
        @OptionGroup var options: AdminOptions
        @Option(name: .customLong("org"), help: "Only this organization's.") var organization: String?
        @OptionGroup var page: PageOptions

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                var rows: [[String: String]] = []
                try await page.walk({ try await store.workspaces(of: organization, after: $0, limit: $1) }) { ws in
                    let keys = try await context.redis.send(.keyed("ZCARD", store.keys.workspaceKeys(ws.id))).int ?? 0
                    rows.append(["id": ws.id, "organization": ws.organization, "name": ws.name, "tier": ws.tier ?? "-", "overrides": ws.overrides.summary,
                                 "suspended": String(ws.suspended), "keys": String(keys)])
                }
                context.output.table(["id", "organization", "name", "tier", "overrides", "suspended", "keys"], rows)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One workspace.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                guard let ws = try await store.workspace(id) else { throw AdminError("unknown workspace '\(id)'") }
                var keys: [String] = []
                try await store.each({ try await store.keys(ofWorkspace: id, after: $0, limit: 1_000) }) { keys.append($0.id) }
                context.output.record([("id", ws.id), ("organization", ws.organization), ("name", ws.name), ("tier", ws.tier ?? "-"),
                                       ("overrides", ws.overrides.summary), ("suspended", String(ws.suspended)), ("keys", keys.joined(separator: ","))])
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a workspace's tier ('none' for the organization's), name or overrides.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "New tier, or 'none'.") var tier: String?
        @Option(help: "New display name.") var name: String?
        @OptionGroup var limits: LimitOptions
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                _ = try await context.announcing("workspace set \(id)") {
                    try await store.updateWorkspace(id, actor: options.actor, reason: reason) { ws in
                        if let tier { ws.tier = tier == "none" ? nil : tier }
                        if let name { ws.name = name }
                        ws.overrides = try limits.apply(to: ws.overrides, currency: store.currency)
                    }
                }
            }
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse every request of a workspace (403).")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await setSuspended(true, options, .workspace, id: id, reason: reason) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a suspension.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await setSuspended(false, options, .workspace, id: id, reason: reason) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a workspace with all its keys.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await remove(options, .workspace, id: id, reason: reason) }
    }
}

/// `tollgate key …`
public struct KeyCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Manage API keys: the ids app servers name in each request.",
        subcommands: [Create.self, List.self, Show.self, Set.self, Suspend.self, Resume.self, Remove.self])
    public init() {}

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key in a workspace (its id is generated unless given).")
        @OptionGroup var options: AdminOptions
        @Argument(help: "Key id (default: key_<random>).") var id: String?
        @Option(help: "Its workspace.") var workspace: String
        @Option(help: "Display name.") var name: String?
        @Option(help: "Models this key may use (names or prefix*), comma-separated.") var allowedModels: String?
        @OptionGroup var limits: LimitOptions
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                let keyID = try id.map { try InputParsing.identifier($0, what: "the key id") } ?? "key_" + randomToken(length: 20)
                let store = try await context.customers()
                let key = APIKey(id: keyID, workspace: workspace, name: name, overrides: try limits.apply(to: .none, currency: store.currency),
                                 allowedModels: InputParsing.list(allowedModels))
                try await store.createKey(key, actor: options.actor, reason: reason)
                context.announce("key create \(keyID)")
                context.output.record([("id", keyID), ("workspace", workspace)])
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "API keys, of one workspace or organization, or all.")
        @OptionGroup var options: AdminOptions
        @Option(help: "Only this workspace's.") var workspace: String?
        @Option(name: .customLong("org"), help: "Only this organization's.") var organization: String?
        @OptionGroup var page: PageOptions

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                var rows: [[String: String]] = []
                var owners: [String: String] = [:]
                try await page.walk({ try await store.keys(ofWorkspace: workspace, organization: organization, after: $0, limit: $1) }) { key in
                    if owners[key.workspace] == nil { owners[key.workspace] = try await store.workspace(key.workspace)?.organization ?? "?" }
                    if let organization, workspace != nil, owners[key.workspace] != organization { return }
                    rows.append(["id": key.id, "workspace": key.workspace, "organization": owners[key.workspace] ?? "?",
                                 "name": key.name, "overrides": key.overrides.summary, "allowed_models": key.allowedModels?.joined(separator: ",") ?? "all",
                                 "suspended": String(key.suspended)])
                }
                context.output.table(["id", "workspace", "organization", "name", "overrides", "allowed_models", "suspended"], rows)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One API key.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                let lookup = try await store.lookUpKey(id)
                guard Identifier.isValid(id), let key = lookup.key else { throw AdminError("unknown key '\(id)'") }
                context.output.record([("id", key.id), ("workspace", key.workspace), ("organization", lookup.workspace?.organization ?? "?"),
                                       ("name", key.name), ("overrides", key.overrides.summary),
                                       ("allowed_models", key.allowedModels?.joined(separator: ",") ?? "all"), ("suspended", String(key.suspended))])
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a key's name, model restrictions ('all' lifts them) or limit overrides.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "New display name.") var name: String?
        @Option(help: "Models this key may use, comma-separated, or 'all'.") var allowedModels: String?
        @OptionGroup var limits: LimitOptions
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                _ = try await context.announcing("key set \(id)") {
                    try await store.updateKey(id, actor: options.actor, reason: reason) { key in
                        if let name { key.name = name }
                        if let allowedModels { key.allowedModels = allowedModels == "all" ? nil : InputParsing.list(allowedModels) }
                        key.overrides = try limits.apply(to: key.overrides, currency: store.currency)
                    }
                }
            }
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse every request of a key (403).")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await setSuspended(true, options, .key, id: id, reason: reason) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a suspension.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await setSuspended(false, options, .key, id: id, reason: reason) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete an API key.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await remove(options, .key, id: id, reason: reason) }
    }
}

/// `--after` and `--limit` of list commands: without them, every entity (page by page).
struct PageOptions: ParsableArguments {
    @Option(help: "Start after this id (the last one of a previous page).") var after: String?
    @Option(help: "At most this many (default: all).") var limit: Int?

    func validate() throws {
        if let limit, !(1...1_000_000).contains(limit) { throw ValidationError("--limit must be between 1 and 1000000") }
    }

    /// Calls `body` for each entity of the list, in id order, within `--after`/`--limit`.
    func walk<Item: Sendable>(_ list: (String?, Int) async throws -> Page<Item>, _ body: (Item) async throws -> Void) async throws {
        var after = self.after
        var left = limit ?? .max
        while left > 0 {
            let page = try await list(after, min(left, CustomerStore.maximumPageSize))
            for item in page.items { try await body(item) }
            left -= page.items.count
            guard let next = page.next else { return }
            after = next
        }
    }
}

/// Letters and digits from the system's random source.
func randomToken(length: Int) -> String { Secret.random(length: length) }

/// Suspends or resumes one organization, workspace or key as an audited change; nothing is
/// written when it is already in that state.
func setSuspended(_ suspended: Bool, _ options: AdminOptions, _ kind: CustomerKind, id: String, reason: String) async throws {
    try await AdminContext.run(options) { context in
        let store = try await context.customers()
        if try await store.setSuspended(suspended, kind, id, actor: options.actor, reason: reason) {
            context.announce("\(kind == .organization ? "org" : kind.noun) \(suspended ? "suspend" : "resume") \(id)")
        }
    }
}

func remove(_ options: AdminOptions, _ kind: CustomerKind, id: String, reason: String) async throws {
    try await AdminContext.run(options) { context in
        let store = try await context.customers()
        switch kind {
        case .organization: try await store.deleteOrganization(id, actor: options.actor, reason: reason)
        case .workspace: try await store.deleteWorkspace(id, actor: options.actor, reason: reason)
        case .key: try await store.deleteKey(id, actor: options.actor, reason: reason)
        case .token: try await store.deleteToken(id, actor: options.actor, reason: reason)
        }
        context.announce("\(kind == .organization ? "org" : kind.noun) rm \(id)")
    }
}
