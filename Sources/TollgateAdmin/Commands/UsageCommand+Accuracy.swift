import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

extension UsageCommand {
    /// `tollgate usage accuracy`: reservations' estimates against the usage committed for them,
    /// read from the ledger streams.
    struct Accuracy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "How reserved token estimates compare with committed usage (mean, p50, p95 relative error, share of under-estimates), from the ledger.")
        @OptionGroup var options: AdminOptions
        @Option(help: "Group by: model, feature or organization.") var by = "model"
        @Option(help: "Only ledger entries since this date or ISO 8601 time (default: all the ledger keeps).") var since: String?
        @Option(help: "Read at most this many ledger entries per partition (newest first).") var limit = 1_000_000

        func validate() throws {
            guard ["model", "feature", "organization"].contains(by) else { throw ValidationError("--by must be one of model, feature, organization") }
            guard (1...10_000_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000000") }
        }

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                let keys = KeyLayout(prefix: context.options.prefix, partitions: configuration.settings.partitions)
                let start = try since.map { try InputParsing.time($0, now: 0, option: "--since") }.map { "\($0)-0" } ?? "-"
                var groups: [String: EstimateAccuracy] = [:]
                var total = EstimateAccuracy()
                for partition in 0..<keys.partitions {
                    var end = "+"
                    var read = 0
                    while read < limit {
                        let page = min(1000, limit - read)
                        let reply = try await context.redis.send(.keyed("XREVRANGE", keys.ledger(partition: partition), end, start, "COUNT", page))
                        let items = reply.array ?? []
                        for item in items {
                            guard let pair = item.array, pair.count == 2, let id = pair[0].string, let fields = pair[1].array,
                                  fields.count >= 2, let line = fields[1].string, let entry = LedgerEntry(id: id, line: line) else { continue }
                            let group = switch by {
                            case "feature": entry.feature.isEmpty ? "(none)" : entry.feature
                            case "organization": entry.organization
                            default: entry.model
                            }
                            groups[group, default: EstimateAccuracy()].add(entry)
                            total.add(entry)
                        }
                        read += items.count
                        guard items.count == page, let last = items.last?.array?.first?.string else { break }
                        end = "(" + last
                    }
                }
                var rows = groups.filter { $0.value.count > 0 }.sorted { $0.key < $1.key }.map { Self.row($1).merging([by: $0]) { $1 } }
                if context.options.format == .table && rows.count > 1 { rows.append(Self.row(total).merging([by: "TOTAL"]) { $1 }) }
                context.output.table([by, "settled", "mean_error", "p50_abs_error", "p95_abs_error", "under_estimates"], rows)
            }
        }

        static func row(_ accuracy: EstimateAccuracy) -> [String: String] {
            func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
            return ["settled": String(accuracy.count), "mean_error": percent(accuracy.mean), "p50_abs_error": percent(accuracy.absoluteQuantile(0.5)),
                    "p95_abs_error": percent(accuracy.absoluteQuantile(0.95)), "under_estimates": percent(accuracy.underEstimateShare)]
        }
    }
}
