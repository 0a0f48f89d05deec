import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// `tollgate org …`
public struct OrgCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "org", abstract: "Manage organizations (tenants): tier, limit overrides, suspension.",
        subcommands: [Create.self, List.self, Show.self, Set.self, Suspend.self, Resume.self])
    public init() {}

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an organization.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "Organization id.") var id: String
        @Option(help: "Its tier.") var tier: String
        @Option(help: "Display name.") var name: String?
        @OptionGroup var limits: LimitOptions
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                _ = try InputParsing.identifier(id, what: "the organization id")
                try await context.change("org create \(id)", reason: reason) { configuration in
                    guard configuration.organizations[id] == nil else { throw AdminError("organization '\(id)' already exists") }
                    guard configuration.tiers[tier] != nil else { throw AdminError("unknown tier '\(tier)'") }
                    let organization = Organization(id: id, name: name, tier: tier,
                                                    overrides: try limits.apply(to: .none, currency: configuration.settings.currency))
                    configuration.organizations[id] = organization
                    return ("", auditJSON(organization))
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every organization.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                context.output.table(["id", "name", "tier", "overrides", "suspended", "workspaces"], configuration.organizations.values.sorted { $0.id < $1.id }.map { org in
                    ["id": org.id, "name": org.name, "tier": org.tier, "overrides": org.overrides.summary, "suspended": String(org.suspended),
                     "workspaces": String(configuration.workspaces.values.filter { $0.organization == org.id }.count)]
                })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One organization with its workspaces and keys.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                guard let org = configuration.organizations[id] else { throw AdminError("unknown organization '\(id)'") }
                let workspaces = configuration.workspaces.values.filter { $0.organization == id }.map(\.id).sorted()
                let keys = configuration.keys.values.filter { workspaces.contains($0.workspace) }.map(\.id).sorted()
                context.output.record([("id", org.id), ("name", org.name), ("tier", org.tier), ("overrides", org.overrides.summary),
                                       ("suspended", String(org.suspended)), ("partition", String(KeyLayout(partitions: configuration.settings.partitions).partition(of: id))),
                                       ("workspaces", workspaces.joined(separator: ",")), ("keys", keys.joined(separator: ","))])
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
                try await context.change("org set \(id)", reason: reason) { configuration in
                    guard var org = configuration.organizations[id] else { throw AdminError("unknown organization '\(id)'") }
                    let old = org
                    if let tier {
                        guard configuration.tiers[tier] != nil else { throw AdminError("unknown tier '\(tier)'") }
                        org.tier = tier
                    }
                    if let name { org.name = name }
                    org.overrides = try limits.apply(to: org.overrides, currency: configuration.settings.currency)
                    guard org != old else { return nil }
                    configuration.organizations[id] = org
                    return (auditJSON(old), auditJSON(org))
                }
            }
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse every request of an organization (403).")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await suspension(options, id: id, suspended: true, reason: reason) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a suspension.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await suspension(options, id: id, suspended: false, reason: reason) }
    }

    static func suspension(_ options: AdminOptions, id: String, suspended: Bool, reason: String) async throws {
        try await setSuspended(suspended, options, command: "org", noun: "organization", id: id, in: \.organizations, reason: reason)
    }
}

/// `tollgate workspace …`
public struct WorkspaceCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "workspace", abstract: "Manage workspaces: an organization's teams or products, optionally with their own tier.",
        subcommands: [Create.self, List.self, Show.self, Set.self, Suspend.self, Resume.self])
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
                try await context.change("workspace create \(id)", reason: reason) { configuration in
                    guard configuration.workspaces[id] == nil else { throw AdminError("workspace '\(id)' already exists") }
                    guard configuration.organizations[organization] != nil else { throw AdminError("unknown organization '\(organization)'") }
                    if let tier, configuration.tiers[tier] == nil { throw AdminError("unknown tier '\(tier)'") }
                    let workspace = Workspace(id: id, organization: organization, name: name, tier: tier,
                                              overrides: try limits.apply(to: .none, currency: configuration.settings.currency))
                    configuration.workspaces[id] = workspace
                    return ("", auditJSON(workspace))
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Workspaces, of one organization or all.")
        @OptionGroup var options: AdminOptions
        @Option(name: .customLong("org"), help: "Only this organization's.") var organization: String?

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                let rows = configuration.workspaces.values.filter { organization == nil || $0.organization == organization }.sorted { $0.id < $1.id }.map { ws in
                    ["id": ws.id, "organization": ws.organization, "name": ws.name, "tier": ws.tier ?? "-", "overrides": ws.overrides.summary,
                     "suspended": String(ws.suspended), "keys": String(configuration.keys.values.filter { $0.workspace == ws.id }.count)]
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
                let configuration = try await context.load().configuration
                guard let ws = configuration.workspaces[id] else { throw AdminError("unknown workspace '\(id)'") }
                context.output.record([("id", ws.id), ("organization", ws.organization), ("name", ws.name), ("tier", ws.tier ?? "-"),
                                       ("overrides", ws.overrides.summary), ("suspended", String(ws.suspended)),
                                       ("keys", configuration.keys.values.filter { $0.workspace == id }.map(\.id).sorted().joined(separator: ","))])
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
                try await context.change("workspace set \(id)", reason: reason) { configuration in
                    guard var ws = configuration.workspaces[id] else { throw AdminError("unknown workspace '\(id)'") }
                    let old = ws
                    if let tier {
                        if tier != "none", configuration.tiers[tier] == nil { throw AdminError("unknown tier '\(tier)'") }
                        ws.tier = tier == "none" ? nil : tier
                    }
                    if let name { ws.name = name }
                    ws.overrides = try limits.apply(to: ws.overrides, currency: configuration.settings.currency)
                    guard ws != old else { return nil }
                    configuration.workspaces[id] = ws
                    return (auditJSON(old), auditJSON(ws))
                }
            }
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse every request of a workspace (403).")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await suspension(options, id: id, suspended: true, reason: reason) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a suspension.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await suspension(options, id: id, suspended: false, reason: reason) }
    }

    static func suspension(_ options: AdminOptions, id: String, suspended: Bool, reason: String) async throws {
        try await setSuspended(suspended, options, command: "workspace", noun: "workspace", id: id, in: \.workspaces, reason: reason)
    }
}

/// `tollgate key …`
public struct KeyCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Manage API keys: the ids app servers name in each request.",
        subcommands: [Create.self, List.self, Show.self, Set.self, Suspend.self, Resume.self])
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
                try await context.change("key create \(keyID)", reason: reason) { configuration in
                    guard configuration.keys[keyID] == nil else { throw AdminError("key '\(keyID)' already exists") }
                    guard configuration.workspaces[workspace] != nil else { throw AdminError("unknown workspace '\(workspace)'") }
                    let key = APIKey(id: keyID, workspace: workspace, name: name, overrides: try limits.apply(to: .none, currency: configuration.settings.currency),
                                     allowedModels: InputParsing.list(allowedModels))
                    configuration.keys[keyID] = key
                    return ("", auditJSON(key))
                }
                context.output.record([("id", keyID), ("workspace", workspace)])
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "API keys, of one workspace or organization, or all.")
        @OptionGroup var options: AdminOptions
        @Option(help: "Only this workspace's.") var workspace: String?
        @Option(name: .customLong("org"), help: "Only this organization's.") var organization: String?

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                let rows = configuration.keys.values.filter { key in
                    (workspace == nil || key.workspace == workspace)
                        && (organization == nil || configuration.workspaces[key.workspace]?.organization == organization)
                }.sorted { $0.id < $1.id }.map { key in
                    ["id": key.id, "workspace": key.workspace, "organization": configuration.workspaces[key.workspace]?.organization ?? "?",
                     "name": key.name, "overrides": key.overrides.summary, "allowed_models": key.allowedModels?.joined(separator: ",") ?? "all",
                     "suspended": String(key.suspended)]
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
                let configuration = try await context.load().configuration
                guard let key = configuration.keys[id] else { throw AdminError("unknown key '\(id)'") }
                context.output.record([("id", key.id), ("workspace", key.workspace), ("organization", configuration.workspaces[key.workspace]?.organization ?? "?"),
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
                try await context.change("key set \(id)", reason: reason) { configuration in
                    guard var key = configuration.keys[id] else { throw AdminError("unknown key '\(id)'") }
                    let old = key
                    if let name { key.name = name }
                    if let allowedModels { key.allowedModels = allowedModels == "all" ? nil : InputParsing.list(allowedModels) }
                    key.overrides = try limits.apply(to: key.overrides, currency: configuration.settings.currency)
                    guard key != old else { return nil }
                    configuration.keys[id] = key
                    return (auditJSON(old), auditJSON(key))
                }
            }
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse every request of a key (403).")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await suspension(options, id: id, suspended: true, reason: reason) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a suspension.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""
        func run() async throws { try await suspension(options, id: id, suspended: false, reason: reason) }
    }

    static func suspension(_ options: AdminOptions, id: String, suspended: Bool, reason: String) async throws {
        try await setSuspended(suspended, options, command: "key", noun: "key", id: id, in: \.keys, reason: reason)
    }
}

/// Letters and digits from the system's random source.
func randomToken(length: Int) -> String {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    var generator = SystemRandomNumberGenerator()
    return String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
}

/// What `suspend` and `resume` change on an organization, a workspace or a key.
protocol Suspendable {
    var suspended: Bool { get set }
}

extension Organization: Suspendable {}
extension Workspace: Suspendable {}
extension APIKey: Suspendable {}

/// Suspends or resumes one subject as an audited change; nothing is written when it is
/// already in that state.
func setSuspended<Subject: Suspendable>(
    _ suspended: Bool, _ options: AdminOptions, command: String, noun: String, id: String,
    in subjects: WritableKeyPath<TollgateConfiguration, [String: Subject]>, reason: String
) async throws {
    try await AdminContext.run(options) { context in
        try await context.change("\(command) \(suspended ? "suspend" : "resume") \(id)", reason: reason) { configuration in
            guard var subject = configuration[keyPath: subjects][id] else { throw AdminError("unknown \(noun) '\(id)'") }
            guard subject.suspended != suspended else { return nil }
            subject.suspended = suspended
            configuration[keyPath: subjects][id] = subject
            return ("{\"suspended\":\(!suspended)}", "{\"suspended\":\(suspended)}")
        }
    }
}
