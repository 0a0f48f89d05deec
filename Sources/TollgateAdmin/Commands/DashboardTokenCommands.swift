import ArgumentParser
import Crypto
import Foundation
import TollgateCore
import TollgateRedis

/// `tollgate dashboard-token …`: read-only tokens for the dashboard's pages.
public struct DashboardTokenCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dashboard-token", abstract: "Manage dashboard tokens: operator (every organization) or customer (one).",
        subcommands: [Create.self, List.self, Revoke.self])
    public init() {}

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a dashboard token. Its secret is printed once; only its SHA-256 is stored.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "A name for the token (who it is for).") var name: String
        @Option(help: "operator (every organization) or customer (one organization, --org).") var scope: String
        @Option(name: .customLong("org"), help: "The organization a customer token may see.") var organization: String?
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func validate() throws {
            guard let scope = DashboardToken.Scope(rawValue: scope) else { throw ValidationError("--scope must be operator or customer") }
            if scope == .customer && organization == nil { throw ValidationError("a customer token needs --org") }
            if scope == .operator && organization != nil { throw ValidationError("an operator token sees every organization: leave out --org") }
        }

        func run() async throws {
            try await AdminContext.run(options) { context in
                let secret = "tgd_" + randomToken(length: 40)
                let id = "dtok_" + randomToken(length: 12)
                let hash = Secret.sha256Hex(secret)
                let now = try await context.now()
                let scope = DashboardToken.Scope(rawValue: scope)!
                if let organization, try await context.customers().organization(organization) == nil { throw AdminError("unknown organization '\(organization)'") }
                try await context.change("dashboard-token create \(id)", reason: reason) { configuration in
                    configuration.dashboardTokens[id] = DashboardToken(id: id, name: name, sha256: hash, scope: scope, organization: organization, createdAt: now)
                    // The audit log never sees the secret, nor its hash.
                    return ("", "{\"id\":\"\(id)\",\"name\":\(Output.jsonString(name)),\"scope\":\"\(scope.rawValue)\",\"organization\":\(Output.jsonString(organization ?? ""))}")
                }
                context.output.record([("id", id), ("name", name), ("scope", scope.rawValue), ("organization", organization ?? ""), ("secret", secret)])
                FileHandle.standardError.write(Data("keep the secret now: it is not stored and cannot be shown again\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every dashboard token (never its secret).")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            try await AdminContext.run(options) { context in
                let tokens = try await context.load().configuration.dashboardTokens.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
                context.output.table(["id", "name", "scope", "organization", "created_at", "revoked"], tokens.map { token in
                    ["id": token.id, "name": token.name, "scope": token.scope.rawValue, "organization": token.organization ?? "",
                     "created_at": Timestamp.format(token.createdAt), "revoked": String(token.revoked)]
                })
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a dashboard token: dashboards refuse it within a second.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                try await context.change("dashboard-token revoke \(id)", reason: reason) { configuration in
                    guard var token = configuration.dashboardTokens[id] else { throw AdminError("unknown dashboard token '\(id)'") }
                    guard !token.revoked else { return nil }
                    token.revoked = true
                    configuration.dashboardTokens[id] = token
                    return ("{\"revoked\":false}", "{\"revoked\":true}")
                }
            }
        }
    }
}
