import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// `tollgate price …`: the pricing table, versioned by effective time.
public struct PriceCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "price",
        abstract: "Manage model prices (per 1M tokens, versioned by effective time).",
        subcommands: [Set.self, List.self, Show.self, History.self, Retire.self, Import.self, Export.self, Defaults.self])

    public init() {}

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a model a new price from a time on (default: now); creates the model if new.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "Model name, e.g. gpt-4.1.") var model: String
        @Option(help: "Provider (openai, anthropic, gemini, ...); required for a new model.") var provider: String?
        @Option(help: "Price per 1M input tokens, e.g. 2.00 (with --output; both may be left out to change only --tokenizer).") var input: String?
        @Option(help: "Price per 1M output tokens.") var output: String?
        @Option(help: "How prompts are counted: o200k_base, cl100k_base or estimate:FACTOR (default: from the model name).") var tokenizer: String?
        @Option(help: "Price per 1M cached-input (cache read) tokens.") var cachedInput: String?
        @Option(help: "Price per 1M cache-write tokens.") var cacheWrite: String?
        @Option(help: "Price per 1M reasoning tokens, if billed apart from output.") var reasoning: String?
        @Option(help: "Other names of the model, comma-separated (e.g. dated names).") var aliases: String?
        @Option(help: "When the price takes effect: 'now', a date or an ISO 8601 time.") var effectiveFrom: String?
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func validate() throws {
            guard !model.isEmpty, model.utf8.count <= 128, model.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw ValidationError("the model name must be 1-128 visible ASCII characters")
            }
            guard (input == nil) == (output == nil) else { throw ValidationError("give both --input and --output") }
            guard input != nil || tokenizer != nil else { throw ValidationError("give --input and --output, or --tokenizer") }
            do {
                _ = try prices()
                _ = try tokenizer.map { text throws(PricingError) in try TokenizerChoice(parsing: text) }
            } catch {
                throw ValidationError("\(error)")
            }
        }

        private func prices() throws(PricingError) -> TokenPrices? {
            guard let input, let output else { return nil }
            return try TokenPrices(input: input, output: output, cachedInput: cachedInput, cacheWrite: cacheWrite, reasoning: reasoning)
        }

        func run() async throws {
            try await AdminContext.run(options) { context in
                let prices = try prices()
                let choice = try tokenizer.map { text throws(PricingError) in try TokenizerChoice(parsing: text) }
                let from = try InputParsing.time(effectiveFrom, now: try await context.now(), option: "--effective-from")
                let change = PriceChange(model: model, provider: provider, prices: prices, tokenizer: choice,
                                         aliases: InputParsing.list(aliases) ?? [], effectiveFrom: from)
                try await context.change("price set \(model)", reason: reason) { configuration in try configuration.setPrice(change) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The price of every model in force at a time (default: now).")
        @OptionGroup var options: AdminOptions
        @Option(help: "A date or ISO 8601 time.") var at: String?
        @Option(help: "Only models of this provider.") var provider: String?

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                let time = try InputParsing.time(at, now: try await context.now(), option: "--at")
                let rows = configuration.pricing.sorted.filter { provider == nil || $0.provider == provider }.compactMap { entry -> [String: String]? in
                    guard let version = entry.version(at: time), !version.retired else { return nil }
                    return Self.row(entry, version)
                }
                context.output.table(["model", "provider", "version", "input", "output", "cached_input", "cache_write", "reasoning", "effective_from", "tokenizer"], rows)
            }
        }

        static func row(_ entry: ModelPricing, _ version: PriceVersion) -> [String: String] {
            let prices = version.prices
            return ["model": entry.model, "provider": entry.provider, "version": String(version.version),
                    "input": prices.decimal(prices.input), "output": prices.decimal(prices.output),
                    "cached_input": prices.cachedInput.map(prices.decimal) ?? "", "cache_write": prices.cacheWrite.map(prices.decimal) ?? "",
                    "reasoning": prices.reasoning.map(prices.decimal) ?? "", "effective_from": Timestamp.format(version.effectiveFrom),
                    "retired": version.retired ? "true" : "false", "tokenizer": entry.tokenizer.description]
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One model: its aliases and every price version.")
        @OptionGroup var options: AdminOptions
        @Argument var model: String

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                guard let entry = configuration.pricing.entry(named: model) else { throw AdminError("unknown model '\(model)'") }
                if context.options.format == .table {
                    context.output.line("\(entry.model) (\(entry.provider))" + (entry.aliases.isEmpty ? "" : ", aliases: \(entry.aliases.joined(separator: ", "))") + ", tokenizer: \(entry.tokenizer)")
                }
                context.output.table(["version", "effective_from", "input", "output", "cached_input", "cache_write", "reasoning", "retired"],
                                     entry.versions.map { List.row(entry, $0) })
            }
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every change made to a model's price, from the audit log.")
        @OptionGroup var options: AdminOptions
        @Argument var model: String

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                let name = configuration.pricing.entry(named: model)?.model ?? model
                let entries = try await AuditLog.read(context, limit: 10_000).filter { $0["action"]?.hasPrefix("price ") == true && $0["action"]?.hasSuffix(" \(name)") == true }
                context.output.table(["at", "version", "actor", "action", "reason"], entries)
            }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop pricing a model from a time on (requests for it are then refused).")
        @OptionGroup var options: AdminOptions
        @Argument var model: String
        @Option(help: "When: 'now', a date or an ISO 8601 time.") var effectiveFrom: String?
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                let from = try InputParsing.time(effectiveFrom, now: try await context.now(), option: "--effective-from")
                try await context.change("price retire \(model)", reason: reason) { configuration in
                    try configuration.retirePrice(model, effectiveFrom: from)
                }
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import prices from LiteLLM's model_prices_and_context_window.json or from CSV, all or nothing.",
            discussion: "CSV columns: model, provider, input, output[, cached_input, cache_write, reasoning, aliases]; prices per 1M tokens; aliases separated by '|'. LiteLLM's per-token numbers become exact per-1M decimals; entries not priced per token are skipped and counted.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The file to import.") var file: String
        @Option(help: "litellm or csv (default: by the file's extension).") var format: String?
        @Option(help: "When the imported prices take effect.") var effectiveFrom: String?
        @Option(help: "Only entries of this provider (LiteLLM's litellm_provider).") var provider: String?
        @Flag(help: "Report what would change, write nothing.") var dryRun = false
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func validate() throws {
            if let format, !["litellm", "csv"].contains(format) { throw ValidationError("--format must be litellm or csv") }
        }

        func run() async throws {
            try await AdminContext.run(options) { context in
                guard let data = FileManager.default.contents(atPath: file) else { throw AdminError.invalid("cannot read '\(file)'") }
                let from = try InputParsing.time(effectiveFrom, now: try await context.now(), option: "--effective-from")
                let kind = format ?? (file.lowercased().hasSuffix(".csv") ? "csv" : "litellm")
                var report = kind == "csv"
                    ? try PriceImport.csv(String(decoding: data, as: UTF8.self), effectiveFrom: from)
                    : try PriceImport.litellm(data, effectiveFrom: from)
                if let provider { report.models = report.models.filter { $0.provider == provider } }
                var counts = (added: 0, changed: 0, unchanged: 0)
                if dryRun {
                    var catalogue = try await context.load().configuration.pricing
                    counts = PriceImport.merge(report.models, into: &catalogue)
                } else {
                    try await context.change("price import \(URL(fileURLWithPath: file).lastPathComponent)", reason: reason) { configuration in
                        counts = PriceImport.merge(report.models, into: &configuration.pricing)
                        guard counts.added + counts.changed > 0 else { return nil }
                        return ("", "{\"added\":\(counts.added),\"changed\":\(counts.changed)}")
                    }
                }
                context.output.record([
                    ("imported", String(report.models.count)), ("added", String(counts.added)), ("changed", String(counts.changed)),
                    ("unchanged", String(counts.unchanged)), ("skipped_not_per_token", String(report.skippedNotPerToken.count)),
                    ("skipped_invalid", String(report.skippedInvalid.count)), ("rounded", String(report.rounded.count)),
                    ("dry_run", dryRun ? "true" : "false"),
                ])
                for (name, why) in report.skippedInvalid.prefix(20) {
                    FileHandle.standardError.write(Data("skipped \(name): \(why)\n".utf8))
                }
            }
        }
    }

    struct Defaults: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load the catalogue shipped with Tollgate (dated, in USD — verify against each provider).")
        @OptionGroup var options: AdminOptions
        @Option(help: "When the prices take effect.") var effectiveFrom: String?
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                let shipped = try DefaultCatalogue.load()
                let from = try InputParsing.time(effectiveFrom, now: try await context.now(), option: "--effective-from")
                var counts = (added: 0, changed: 0, unchanged: 0)
                try await context.change("price defaults \(shipped.asOf)", reason: reason) { configuration in
                    guard configuration.settings.currency == shipped.currency else {
                        throw AdminError("the shipped prices are in \(shipped.currency.code), this deployment's currency is \(configuration.settings.currency.code)")
                    }
                    let models = shipped.models.map { model in
                        ModelPricing(model: model.model, provider: model.provider, aliases: model.aliases,
                                     versions: [PriceVersion(version: 1, effectiveFrom: from, prices: model.latest!.prices)], tokenizer: model.tokenizer)
                    }
                    counts = PriceImport.merge(models, into: &configuration.pricing)
                    guard counts.added + counts.changed > 0 else { return nil }
                    return ("", "{\"added\":\(counts.added),\"changed\":\(counts.changed)}")
                }
                context.output.record([("as_of", shipped.asOf), ("added", String(counts.added)), ("changed", String(counts.changed)),
                                       ("unchanged", String(counts.unchanged)), ("note", shipped.note)])
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every model's current price as CSV (re-importable) or JSON (every version).")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                if context.options.json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                    context.output.line(String(decoding: try encoder.encode(configuration.pricing), as: UTF8.self))
                    return
                }
                let rows = configuration.pricing.sorted.compactMap { entry -> [String: String]? in
                    guard let latest = entry.latest, !latest.retired else { return nil }
                    var row = List.row(entry, latest)
                    row["aliases"] = entry.aliases.joined(separator: "|")
                    return row
                }
                var csv = Output(format: .csv)
                csv.table(PriceImport.csvColumns, rows)
                csv.flush()
            }
        }
    }
}
