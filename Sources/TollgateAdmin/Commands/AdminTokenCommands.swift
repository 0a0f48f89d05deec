import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// `tollgate admin-token …`: bearer tokens for the admin HTTP API (`tollgate admin-api`).
public struct AdminTokenCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "admin-token", abstract: "Manage admin API tokens: admin, provisioner or read-only.",
        subcommands: [Create.self, List.self, Revoke.self])
    public init() {}

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an admin API token. Its secret is printed once; only its SHA-256 is stored.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "A name for the token (the system or person it is for).") var name: String
        @Option(help: "admin (everything), provisioner (customers, keys, service tokens) or read-only.") var scope: String
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func validate() throws {
            guard AdminToken.Scope(rawValue: scope) != nil else { throw ValidationError("--scope must be admin, provisioner or read-only") }
            guard !name.isEmpty, name.count <= 128 else { throw ValidationError("the name must be 1-128 characters") }
        }

        func run() async throws {
            try await AdminContext.run(options) { context in
                let secret = "tga_" + Secret.random(length: 40)
                let id = "atok_" + Secret.random(length: 12)
                let scope = AdminToken.Scope(rawValue: scope)!
                let now = try await context.now()
                try await context.change("admin-token create \(id)", reason: reason) { configuration in
                    let token = AdminToken(id: id, name: name, sha256: Secret.sha256Hex(secret), scope: scope, createdAt: now)
                    configuration.adminTokens[id] = token
                    // The audit log never sees the secret, nor its hash.
                    return AuditValues(old: "", new: AuditValues.json(["id": id, "name": name, "scope": scope.rawValue]))
                }
                context.output.record([("id", id), ("name", name), ("scope", scope.rawValue), ("secret", secret)])
                FileHandle.standardError.write(Data("keep the secret now: it is not stored and cannot be shown again\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every admin API token (never its secret).")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            try await AdminContext.run(options) { context in
                let tokens = try await context.load().configuration.adminTokens.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
                context.output.table(["id", "name", "scope", "created_at", "revoked"], tokens.map { token in
                    ["id": token.id, "name": token.name, "scope": token.scope.rawValue, "created_at": Timestamp.format(token.createdAt),
                     "revoked": String(token.revoked)]
                })
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an admin API token: the admin API refuses it within a second.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                try await context.change("admin-token revoke \(id)", reason: reason) { configuration in
                    guard var token = configuration.adminTokens[id] else { throw AdminError("unknown admin token '\(id)'") }
                    guard !token.revoked else { return nil }
                    token.revoked = true
                    configuration.adminTokens[id] = token
                    return ("{\"revoked\":false}", "{\"revoked\":true}")
                }
            }
        }
    }
}
