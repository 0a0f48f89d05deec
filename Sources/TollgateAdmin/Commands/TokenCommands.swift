import ArgumentParser
import Crypto
import Foundation
import TollgateCore
import TollgateRedis

/// `tollgate token …`: service tokens for app servers.
public struct TokenCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Manage the service tokens app servers use to call gateways.",
        subcommands: [Create.self, List.self, Revoke.self])
    public init() {}

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token. Its secret is printed once; only its SHA-256 is stored.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "A name for the token (e.g. the app server it is for).") var name: String
        @Option(name: .customLong("org"), help: "Organizations it may act for, comma-separated (default: all).") var organizations: String?
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                let secret = "tg_" + randomToken(length: 40)
                let id = "tok_" + randomToken(length: 12)
                let hash = Secret.sha256Hex(secret)
                let now = try await context.now()
                let store = try await context.customers()
                let orgs = InputParsing.list(organizations)
                for org in orgs ?? [] where try await store.organization(org) == nil { throw AdminError("unknown organization '\(org)'") }
                // The audit log never sees the secret, nor its hash.
                try await store.createToken(ServiceToken(id: id, name: name, sha256: hash, organizations: orgs, createdAt: now), actor: options.actor, reason: reason)
                context.announce("token create \(id)")
                context.output.record([("id", id), ("name", name), ("secret", secret)])
                FileHandle.standardError.write(Data("keep the secret now: it is not stored and cannot be shown again\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every token (never its secret).")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                var tokens: [ServiceToken] = []
                try await store.each({ try await store.tokens(after: $0, limit: 1_000) }) { tokens.append($0) }
                context.output.table(["id", "name", "organizations", "created_at", "revoked"], tokens.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }.map { token in
                    ["id": token.id, "name": token.name, "organizations": token.organizations?.joined(separator: ",") ?? "all",
                     "created_at": Timestamp.format(token.createdAt), "revoked": String(token.revoked)]
                })
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: gateways refuse it within a second.")
        @OptionGroup var options: AdminOptions
        @Argument var id: String
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                let store = try await context.customers()
                _ = try await context.announcing("token revoke \(id)") {
                    try await store.updateToken(id, actor: options.actor, reason: reason, action: "token revoke \(id)") { $0.revoked = true }
                }
            }
        }
    }
}
