import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// The audit stream: every configuration change and budget correction.
enum AuditLog {
    static func read(_ context: AdminContext, limit: Int) async throws -> [[String: String]] {
        let reply = try await context.redis.send("XREVRANGE", context.keys.audit, "+", "-", "COUNT", limit)
        return (reply.array ?? []).reversed().compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let fields = parts[1].array else { return nil }
            var row: [String: String] = ["id": parts[0].string ?? ""]
            for index in stride(from: 0, to: fields.count - 1, by: 2) {
                row[fields[index].string ?? ""] = fields[index + 1].string ?? ""
            }
            if let at = row["at"].flatMap(Int64.init) { row["at"] = Timestamp.format(at) }
            return row
        }
    }
}

public struct AuditCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "audit", abstract: "Every change: who, when, what, old → new.")
    @OptionGroup var options: AdminOptions
    @Option(help: "How many of the latest entries.") var limit = 50
    @Option(name: .customLong("by"), help: "Only this actor's changes.") var actor: String?
    @Option(help: "Only actions starting with this (e.g. 'price', 'tier set').") var action: String?
    @Flag(help: "Include the old and new values.") var values = false

    public init() {}

    public func validate() throws {
        guard (1...100_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 100000") }
    }

    public func run() async throws {
        try await AdminContext.run(options) { context in
            let rows = try await AuditLog.read(context, limit: limit).filter { row in
                (actor == nil || row["actor"] == actor) && (action == nil || row["action"]?.hasPrefix(action!) == true)
            }
            context.output.table(values ? ["at", "version", "actor", "action", "reason", "old", "new"] : ["at", "version", "actor", "action", "reason"], rows)
        }
    }
}
