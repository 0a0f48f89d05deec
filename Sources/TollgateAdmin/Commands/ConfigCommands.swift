import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis
import Yams

/// `tollgate config …`: the whole configuration as YAML, for backups and review in git.
public struct ConfigCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check, export and import the whole configuration (YAML or JSON).",
        subcommands: [Check.self, Export.self, Import.self, StateLayoutCommand.self])
    public init() {}

    /// `tollgate config state-layout 1|2`: the one setting that changes while traffic flows
    /// without touching the rest of the configuration (Docs/operations.md, "Upgrading to state
    /// layout 2").
    struct StateLayoutCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "state-layout",
            abstract: "Show or set settings.state_layout: the layout the engine writes counters in (2 once every process runs a version that reads it).")
        @OptionGroup var options: AdminOptions
        @Argument(help: "1 or 2; omit to show the current one.") var layout: Int?
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func validate() throws {
            if let layout, Settings.StateLayout(rawValue: layout) == nil { throw ValidationError("the state layout must be 1 or 2") }
        }

        func run() async throws {
            try await AdminContext.run(options) { context in
                guard let layout = layout.flatMap(Settings.StateLayout.init(rawValue:)) else {
                    print(try await context.load().configuration.settings.stateLayout.rawValue)
                    return
                }
                try await context.change("config state-layout \(layout.rawValue)", reason: reason) { configuration in
                    let old = configuration.settings.stateLayout
                    guard old != layout else { return nil }
                    configuration.settings.stateLayout = layout
                    return (old: "\(old.rawValue)", new: "\(layout.rawValue)")
                }
            }
        }
    }

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
        static let configuration = CommandConfiguration(abstract: "Validate a configuration file offline, any form config export writes (no Redis needed).")
        @Argument var file: String

        func run() async throws {
            do {
                let file = try ConfigurationImport(path: self.file)
                let plan = try await file.check(against: nil)
                try? FileManager.default.removeItem(atPath: plan.removalFile)
                print("ok: \(file.header.pricing.models.count) models, \(file.header.tiers.count) tiers, \(plan.customers[.organization] ?? 0) organizations, \(plan.customers[.workspace] ?? 0) workspaces, \(plan.customers[.key] ?? 0) keys")
            } catch let error as AdminError {
                FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
                throw error.exit
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the whole configuration (YAML, JSON with --json, or streamed with --stream).",
            discussion: """
                --stream writes the document as JSON without customers, then one customer a line \
                ({"organization":{...}}, then workspaces, keys and tokens, each kind by id), read from \
                Redis a page at a time: memory stays bounded however many customers exist. The YAML \
                and JSON forms hold every customer in memory. `config import` reads all three.
                """)
        @OptionGroup var options: AdminOptions
        @Flag(help: "The streamed form: the document, then one customer a line (bounded memory).") var stream = false

        func run() async throws {
            try await AdminContext.run(options) { context in
                if stream {
                    try await Self.stream(context)
                    return
                }
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

        /// The stored records as they are (sorted-key JSON), a page at a time, to stdout in
        /// 64 KiB writes. Not a snapshot: a customer changed meanwhile appears as its page found it.
        static func stream(_ context: AdminContext) async throws {
            let store = try await context.customers()
            let header = try await context.load().configuration.withoutCustomers
            var pending = Array(try header.encodeJSON(pretty: true)) + [0x0A]
            let output = FileHandle.standardOutput
            for kind in ConfigurationImport.order {
                let prefix = Array("{\"\(CustomerEntity.field(kind))\":".utf8)
                var after: String?
                repeat {
                    let page = try await store.storedRecords(kind, after: after)
                    for record in page.items { pending += prefix + record + [UInt8(ascii: "}"), 0x0A] }
                    if pending.count >= 1 << 16 {
                        try output.write(contentsOf: pending)
                        pending.removeAll(keepingCapacity: true)
                    }
                    after = page.next
                } while after != nil
            }
            try output.write(contentsOf: pending)
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the whole configuration with a file's (any form config export writes).",
            discussion: """
                The file is read and checked whole first; any problem is reported and nothing is \
                written. Then the document is stored, the customers in batches (each batch all or \
                nothing), and stored customers the file does not have are removed. If it stops \
                halfway (Redis lost, a concurrent change), it says what it wrote; running it again \
                finishes it. The streamed form (config export --stream) is read a line at a time.
                """)
        @OptionGroup var options: AdminOptions
        @Argument var file: String
        @Flag(help: "Validate and report, write nothing.") var dryRun = false
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                let file = try ConfigurationImport(path: self.file)
                let store = try await context.customers()
                try ConfigurationImport.checkPartitions(from: try await context.load().configuration, to: file.header,
                                                        organizations: try await store.count(.organization))
                let plan = try await file.check(against: store)
                defer { try? FileManager.default.removeItem(atPath: plan.removalFile) }
                let removals = ConfigurationImport.order.map { "\(plan.removals[$0] ?? 0) \($0.noun)s" }.joined(separator: ", ")
                if dryRun {
                    context.output.line("ok: the file is valid (dry run, nothing written): \(plan.summary); it would remove \(removals)")
                    return
                }
                try await file.write(plan, store: store, configurations: context.store, actor: options.actor, reason: reason)
                FileHandle.standardError.write(Data("customers: stored \(plan.summary); removed \(removals)\n".utf8))
            }
        }
    }
}
