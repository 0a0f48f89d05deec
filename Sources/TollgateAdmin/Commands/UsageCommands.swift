import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// `tollgate usage …`: reports from the monitor's roll-ups (day totals per organization,
/// by workspace, key, model, user, feature and experiment).
public struct UsageCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "usage", abstract: "Usage and cost reports from the monitor's roll-ups.",
        subcommands: [Report.self, Top.self, Export.self, Accuracy.self])
    public init() {}

    /// The date range and organizations a report covers.
    struct Range: ParsableArguments {
        @Option(help: "First day, YYYY-MM-DD (in each organization's timezone).") var from: String
        @Option(help: "Last day, YYYY-MM-DD (default: the first day).") var to: String?
        @Option(name: .customLong("org"), help: "Only this organization.") var organization: String?

        /// Days from `from` to `to`, as roll-up labels (YYYYMMDD).
        func days() throws -> [String] { try UsageReport.days(from: from, to: to) }
    }

    /// Every row of the range: (organization, day, dimensions, totals).
    static func rows(_ context: AdminContext, _ range: Range) async throws -> [(String, String, RollupDimensions, UsageTotals)] {
        let configuration = try await context.load().configuration
        let keys = KeyLayout(prefix: context.options.prefix, partitions: configuration.settings.partitions)
        let store = try await context.customers()
        if let organization = range.organization, try await store.organization(organization) == nil {
            throw AdminError("unknown organization '\(organization)'")
        }
        var organizations = range.organization.map { [$0] } ?? []
        if range.organization == nil { try await store.each({ try await store.organizations(after: $0, limit: 1_000) }) { organizations.append($0.id) } }
        let days = try range.days()
        var result: [(String, String, RollupDimensions, UsageTotals)] = []
        for organization in organizations {
            for row in try await UsageReport.rows(redis: context.redis, keys: keys, organization: organization, days: days) {
                result.append((row.organization, row.day, row.dimensions, row.totals))
            }
        }
        return result
    }

    /// The roll-ups' figures of a group. The last four: requests that said whether their prompt
    /// hit the provider's cache and those that hit (the cache-hit rate), and the estimated and
    /// actual tokens of reserved requests (estimate accuracy).
    static let metricColumns = ["requests", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost",
                                "cache_known_requests", "cache_hit_requests", "estimated_tokens", "estimated_actual_tokens"]

    static func metrics(_ totals: UsageTotals, currency: Currency) -> [String: String] {
        ["requests": String(totals.requests), "input_tokens": String(totals.usage.input), "cached_input_tokens": String(totals.usage.cachedInput),
         "cache_write_tokens": String(totals.usage.cacheWrite), "output_tokens": String(totals.usage.output),
         "reasoning_tokens": String(totals.usage.reasoning), "cost": Money(nanos: totals.costNanos, currency: currency).decimalString,
         "cache_known_requests": String(totals.cacheKnown), "cache_hit_requests": String(totals.cacheHits),
         "estimated_tokens": String(totals.estimatedTokens), "estimated_actual_tokens": String(totals.estimatedActualTokens)]
    }

    static func group(_ row: (String, String, RollupDimensions, UsageTotals), by dimension: String) -> String {
        UsageReport.group(UsageReport.Row(organization: row.0, day: row.1, dimensions: row.2, totals: row.3), by: dimension)
    }

    static let dimensions = UsageReport.dimensions

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Totals over a date range, grouped by day, organization, workspace, key, model, user, feature or experiment.")
        @OptionGroup var options: AdminOptions
        @OptionGroup var range: Range
        @Option(help: "Group by: day, organization, workspace, key, model, user, feature or experiment.") var by = "day"

        func validate() throws {
            guard UsageCommand.dimensions.contains(by) else { throw ValidationError("--by must be one of \(UsageCommand.dimensions.joined(separator: ", "))") }
        }

        func run() async throws {
            try await AdminContext.run(options) { context in
                let currency = try await context.load().configuration.settings.currency
                var groups: [String: UsageTotals] = [:]
                for row in try await UsageCommand.rows(context, range) { groups[UsageCommand.group(row, by: by), default: UsageTotals()].add(row.3) }
                var total = UsageTotals()
                var rows = groups.sorted { $0.key < $1.key }.map { name, totals -> [String: String] in
                    total.add(totals)
                    return UsageCommand.metrics(totals, currency: currency).merging([by: name]) { $1 }
                }
                if context.options.format == .table && rows.count > 1 { rows.append(UsageCommand.metrics(total, currency: currency).merging([by: "TOTAL"]) { $1 }) }
                context.output.table([by] + UsageCommand.metricColumns, rows)
            }
        }
    }

    struct Top: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The highest-cost subjects over a date range.")
        @OptionGroup var options: AdminOptions
        @OptionGroup var range: Range
        @Option(help: "Subjects: organization, workspace, key, user, feature, experiment or model.") var by = "key"
        @Option(help: "How many.") var limit = 10

        func validate() throws {
            guard UsageCommand.dimensions.dropFirst().contains(by) else { throw ValidationError("--by must be one of organization, workspace, key, model, user, feature, experiment") }
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000") }
        }

        func run() async throws {
            try await AdminContext.run(options) { context in
                let currency = try await context.load().configuration.settings.currency
                var groups: [String: UsageTotals] = [:]
                for row in try await UsageCommand.rows(context, range) { groups[UsageCommand.group(row, by: by), default: UsageTotals()].add(row.3) }
                let rows = groups.sorted { ($0.value.costNanos, $1.key) > ($1.value.costNanos, $0.key) }.prefix(limit).enumerated().map { rank, item in
                    UsageCommand.metrics(item.value, currency: currency).merging(["rank": String(rank + 1), by: item.key]) { $1 }
                }
                context.output.table(["rank", by, "cost", "requests", "input_tokens", "output_tokens"], rows)
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every roll-up row of a date range, as CSV (default) or JSON lines (--json).")
        @OptionGroup var options: AdminOptions
        @OptionGroup var range: Range

        func run() async throws {
            try await AdminContext.run(options) { context in
                let currency = try await context.load().configuration.settings.currency
                let columns = ["day", "organization", "workspace", "key", "model", "user", "feature", "experiment"] + UsageCommand.metricColumns
                let rows = try await UsageCommand.rows(context, range).sorted { ($0.1, $0.0, $0.2.key, $0.2.model, $0.2.user) < ($1.1, $1.0, $1.2.key, $1.2.model, $1.2.user) }
                    .map { row in
                        UsageCommand.metrics(row.3, currency: currency).merging([
                            "day": row.1, "organization": row.0, "workspace": row.2.workspace, "key": row.2.key, "model": row.2.model,
                            "user": row.2.user, "feature": row.2.feature, "experiment": row.2.experiment,
                        ]) { $1 }
                    }
                if context.options.json {
                    // JSON lines: one object per row.
                    for row in rows {
                        context.output.line("{" + columns.map { "\(Output.jsonString($0)):\(Output.jsonValue(row[$0] ?? ""))" }.joined(separator: ",") + "}")
                    }
                } else {
                    var csv = Output(format: .csv)
                    csv.table(columns, rows)
                    csv.flush()
                }
            }
        }
    }
}
