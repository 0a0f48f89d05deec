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
                let hash = SHA256.hash(data: Array(secret.utf8)).map { String(format: "%02x", $0) }.joined()
                let now = try await context.now()
                try await context.change("token create \(id)", reason: reason) { configuration in
                    let orgs = InputParsing.list(organizations)
                    for org in orgs ?? [] where configuration.organizations[org] == nil { throw AdminError("unknown organization '\(org)'") }
                    let token = ServiceToken(id: id, name: name, sha256: hash, organizations: orgs, createdAt: now)
                    configuration.tokens[id] = token
                    // The audit log never sees the secret, nor its hash.
                    return ("", "{\"id\":\"\(id)\",\"name\":\(Output.jsonString(name)),\"organizations\":\"\(orgs?.joined(separator: ",") ?? "all")\"}")
                }
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
                let configuration = try await context.load().configuration
                context.output.table(["id", "name", "organizations", "created_at", "revoked"], configuration.tokens.values.sorted { $0.createdAt < $1.createdAt }.map { token in
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
                try await context.change("token revoke \(id)", reason: reason) { configuration in
                    guard var token = configuration.tokens[id] else { throw AdminError("unknown token '\(id)'") }
                    guard !token.revoked else { return nil }
                    token.revoked = true
                    configuration.tokens[id] = token
                    return ("{\"revoked\":false}", "{\"revoked\":true}")
                }
            }
        }
    }
}
