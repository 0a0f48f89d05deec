import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis
import Yams

/// `tollgate config …`: the whole configuration as YAML, for backups and review in git.
public struct ConfigCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check, export and import the whole configuration (YAML or JSON).",
        subcommands: [Check.self, Export.self, Import.self])
    public init() {}

    static func decode(_ path: String) throws -> TollgateConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else { throw AdminError.invalid("cannot read '\(path)'") }
        let text = String(decoding: data, as: UTF8.self)
        do {
            if text.drop(while: { $0.isWhitespace }).first == "{" { return try TollgateConfiguration.decodeJSON(data) }
            let settings = (try? YAMLDecoder().decode(SettingsOnly.self, from: text))?.settings ?? Settings()
            return try YAMLDecoder().decode(TollgateConfiguration.self, from: text, userInfo: [.tollgateCurrency: settings.currency])
        } catch let error as DecodingError {
            throw AdminError.invalid("'\(path)' is not a valid configuration: \(describe(error))")
        } catch {
            throw AdminError.invalid("'\(path)' is not a valid configuration: \(error)")
        }
    }

    static func yaml(_ configuration: TollgateConfiguration) throws -> String {
        try YAMLEncoder().encode(configuration)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    private struct SettingsOnly: Decodable { var settings: Settings? }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a configuration file offline (no Redis needed).")
        @Argument var file: String

        func run() async throws {
            do {
                let configuration = try ConfigCommand.decode(file)
                let problems = configuration.problems
                guard problems.isEmpty else {
                    for problem in problems { FileHandle.standardError.write(Data("error: \(problem)\n".utf8)) }
                    throw AdminExit.invalid
                }
                print("ok: \(configuration.pricing.models.count) models, \(configuration.tiers.count) tiers, \(configuration.organizations.count) organizations, \(configuration.workspaces.count) workspaces, \(configuration.keys.count) keys")
            } catch let error as AdminError {
                FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
                throw error.exit
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the whole configuration (YAML, or JSON with --json).")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            try await AdminContext.run(options) { context in
                // The document with every customer record in it: the same format as before the
                // customer store, so exports round-trip. Memory grows with the customers.
                let configuration = try await context.customers().allCustomers(in: context.load().configuration)
                if context.options.json {
                    context.output.line(String(decoding: try configuration.encodeJSON(pretty: true), as: UTF8.self))
                } else {
                    context.output.line(try ConfigCommand.yaml(configuration).trimmingCharacters(in: .newlines))
                }
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace the whole configuration with a file's, all or nothing.")
        @OptionGroup var options: AdminOptions
        @Argument var file: String
        @Flag(help: "Validate and report, write nothing.") var dryRun = false
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                let imported = try ConfigCommand.decode(file)
                let problems = imported.problems
                guard problems.isEmpty else { throw AdminError.invalid(problems.joined(separator: "; ")) }
                if dryRun {
                    context.output.line("ok: the file is valid (dry run, nothing written)")
                    return
                }
                let store = try await context.customers()
                let stored = try await store.count(.organization)
                let action = "config import \(URL(fileURLWithPath: file).lastPathComponent)"
                // The document goes in with its customers; they then replace the stored records
                // (every process that sees such a document does the same; they agree).
                try await context.change(action, reason: reason) { configuration in
                    if configuration.settings.partitions != imported.settings.partitions && stored > 0 {
                        throw AdminError("settings.partitions cannot change once organizations exist (their state lives in its partitions)")
                    }
                    configuration = imported
                    return ("{\"version_replaced\":true,\"organizations\":\(stored)}", "{\"organizations\":\(imported.organizations.count)}")
                }
                for _ in 0..<20 {
                    let loaded = try await context.load()
                    do {
                        try await store.replaceCustomers(with: loaded, actor: options.actor, action: action + " (customers)", reason: reason)
                        break
                    } catch let error as CustomerStoreError where error.code == .conflict {
                        continue
                    }
                }
            }
        }
    }
}
