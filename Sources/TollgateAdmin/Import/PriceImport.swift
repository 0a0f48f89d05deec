import Foundation
import TollgateCore
import TollgateRedis

/// What an import found, for the report.
struct PriceImportReport {
    var models: [ModelPricing] = []
    /// Entries with no per-token input price (images, seconds, queries, ...).
    var skippedNotPerToken: [String] = []
    /// Entries with a per-token price that cannot be used (negative, too large, malformed).
    var skippedInvalid: [(String, String)] = []
    /// Prices that had more than 9 decimals per 1M tokens (binary floating-point residue in
    /// the source, such as 15.000020000000002): rounded half to even at 9.
    var rounded: [String] = []
}

enum PriceImport {
    /// LiteLLM's `model_prices_and_context_window.json`: per-token prices as JSON numbers,
    /// converted to exact per-1M decimals by moving the decimal point, never through a Double.
    static func litellm(_ data: Data, effectiveFrom: Int64) throws -> PriceImportReport {
        let document: JSONValue
        do {
            document = try JSONValue.parse(Array(data))
        } catch {
            throw AdminError.invalid("the file is not valid JSON: \(error.description)")
        }
        guard let entries = document.objectValue else { throw AdminError.invalid("the file must be a JSON object of model entries") }
        var report = PriceImportReport()
        for (name, entry) in entries.sorted(by: { $0.key < $1.key }) where name != "sample_spec" {
            guard let fields = entry.objectValue, let inputValue = fields["input_cost_per_token"], case .number = inputValue else {
                report.skippedNotPerToken.append(name)
                continue
            }
            guard !name.isEmpty, name.utf8.count <= 128, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                report.skippedInvalid.append((name, "the model name must be 1-128 visible ASCII characters"))
                continue
            }
            var rounded = false
            func perMillion(_ key: String) throws -> Int64? {
                guard let value = fields[key], !value.isNull else { return nil }
                guard case .number(let literal) = value else { throw PricingError.invalidPrice("\(key) is not a number") }
                // Per token → nano-units per 1M tokens: × 10^6 × 10^9 = scale 15.
                let parsed: ExactDecimal.Result
                do {
                    parsed = try ExactDecimal.parse(literal, scale: 15, rounding: .halfEven)
                } catch {
                    throw PricingError.invalidPrice("\(key) \(error.description)")
                }
                guard parsed.value <= TokenPrices.maximumPerMillion else { throw PricingError.invalidPrice("\(key) is above 10000 per 1M tokens") }
                rounded = rounded || parsed.rounded
                return parsed.value
            }
            do {
                let prices = TokenPrices(
                    input: try perMillion("input_cost_per_token") ?? 0,
                    output: try perMillion("output_cost_per_token") ?? 0,
                    cachedInput: try perMillion("cache_read_input_token_cost"),
                    cacheWrite: try perMillion("cache_creation_input_token_cost"),
                    reasoning: try perMillion("output_cost_per_reasoning_token"))
                let provider = fields["litellm_provider"]?.stringValue ?? "unknown"
                report.models.append(ModelPricing(model: name, provider: provider, versions: [PriceVersion(version: 1, effectiveFrom: effectiveFrom, prices: prices)]))
                if rounded { report.rounded.append(name) }
            } catch {
                report.skippedInvalid.append((name, "\(error)"))
            }
        }
        return report
    }

    static let csvColumns = ["model", "provider", "input", "output", "cached_input", "cache_write", "reasoning", "aliases", "tokenizer"]

    /// CSV with a header: model, provider, input, output[, cached_input, cache_write,
    /// reasoning, aliases, tokenizer]; prices per 1M tokens as decimals; aliases separated by `|`;
    /// tokenizer as in the configuration (default: from the model name).
    static func csv(_ text: String, effectiveFrom: Int64) throws -> PriceImportReport {
        let rows: [[String]]
        do { rows = try CSV.parse(text) } catch { throw AdminError.invalid("the CSV file ends inside a quoted field") }
        guard let header = rows.first else { throw AdminError.invalid("the CSV file is empty") }
        let index = Dictionary(header.enumerated().map { ($1.trimmingCharacters(in: .whitespaces).lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
        for required in ["model", "provider", "input", "output"] where index[required] == nil {
            throw AdminError.invalid("the CSV header must name the column '\(required)' (columns: \(csvColumns.joined(separator: ", ")))")
        }
        var report = PriceImportReport()
        for (line, row) in rows.dropFirst().enumerated() where !(row.count == 1 && row[0].isEmpty) {
            func field(_ name: String) -> String? {
                guard let position = index[name], position < row.count else { return nil }
                let value = row[position].trimmingCharacters(in: .whitespaces)
                return value.isEmpty ? nil : value
            }
            guard let model = field("model") else { throw AdminError.invalid("line \(line + 2): the model is missing") }
            do {
                let prices = try TokenPrices(input: field("input") ?? "", output: field("output") ?? "", cachedInput: field("cached_input"),
                                             cacheWrite: field("cache_write"), reasoning: field("reasoning"))
                let aliases = field("aliases")?.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
                let tokenizer = try field("tokenizer").map { text throws(PricingError) in try TokenizerChoice(parsing: text) }
                report.models.append(ModelPricing(model: model, provider: field("provider") ?? "unknown", aliases: aliases,
                                                  versions: [PriceVersion(version: 1, effectiveFrom: effectiveFrom, prices: prices)], tokenizer: tokenizer))
            } catch {
                throw AdminError.invalid("line \(line + 2) (\(model)): \(error)")
            }
        }
        return report
    }

    /// Merges imported prices into `catalogue`: a model whose price changed gets a new
    /// version from `effectiveFrom`; an unchanged one is left alone. Returns the number
    /// of models added and of models given a new price.
    static func merge(_ imported: [ModelPricing], into catalogue: inout PriceCatalogue) -> (added: Int, changed: Int, unchanged: Int) {
        var counts = (added: 0, changed: 0, unchanged: 0)
        for model in imported {
            guard let version = model.versions.first else { continue }
            if var existing = catalogue.entry(named: model.model) {
                if let latest = existing.latest, !latest.retired, latest.prices == version.prices {
                    counts.unchanged += 1
                    continue
                }
                let next = (existing.versions.map(\.version).max() ?? 0) + 1
                existing.versions.append(PriceVersion(version: next, effectiveFrom: version.effectiveFrom, prices: version.prices))
                existing.aliases = Array(Set(existing.aliases + model.aliases)).sorted()
                catalogue.upsert(ModelPricing(model: existing.model, provider: existing.provider, aliases: existing.aliases, versions: existing.versions,
                                              tokenizer: existing.tokenizer))
                counts.changed += 1
            } else {
                catalogue.upsert(model)
                counts.added += 1
            }
        }
        return counts
    }
}
