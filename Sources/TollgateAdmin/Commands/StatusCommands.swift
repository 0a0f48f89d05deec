import ArgumentParser
import Foundation
import Logging
import TollgateCore
import TollgateRedis

/// `tollgate status`: who is near or over a limit right now.
public struct StatusCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "status", abstract: "Who is near or over a limit right now.")
    @OptionGroup var options: AdminOptions
    @Option(help: "Show levels at or above this percentage of a limit.") var threshold = 80
    @Option(name: .customLong("org"), help: "Only this organization.") var organization: String?

    public init() {}

    public func validate() throws {
        guard (0...1_000).contains(threshold) else { throw ValidationError("--threshold must be a percentage between 0 and 1000") }
    }

    public func run() async throws {
        try await AdminContext.run(options) { context in
            let document = try await context.load().configuration
            let engine = try context.engine(document)
            let store = try await context.customers()
            var ids: [String] = organization.map { [$0] } ?? []
            if organization == nil { try await store.each({ try await store.organizations(after: $0, limit: 1_000) }) { ids.append($0.id) } }
            var rows: [[String: String]] = []
            for id in ids {
                guard let tree = try await store.tree(of: id) else { continue }
                let configuration = document.including(tree)
                let org = tree.organization
                let users = configuration.userCapTiers(of: org.id).isEmpty ? [] : try await engine.users(organization: org.id)
                guard let governed = configuration.governedLevels(of: org.id, users: users) else { continue }
                let quota = try await engine.quota(organization: org.id, levels: governed.map(\.level), timezone: configuration.timezone(of: org.id),
                                                   settings: configuration.settings)
                for (usage, level) in zip(quota.levels, governed) {
                    for (limit, used, maximum) in Self.figures(usage) where maximum > 0 {
                        let percent = Int((used * 100) / maximum)
                        guard percent >= threshold else { continue }
                        rows.append(["organization": org.id, "level": usage.level.scope.rawValue, "id": usage.level.id, "tier": level.tier.name, "limit": limit,
                                     "used": Self.show(used, money: limit.contains("budget"), currency: configuration.settings.currency),
                                     "of": Self.show(maximum, money: limit.contains("budget"), currency: configuration.settings.currency),
                                     "percent": String(percent), "state": percent >= 100 ? "OVER" : "near"])
                    }
                }
            }
            rows.sort { Int($0["percent"]!)! > Int($1["percent"]!)! }
            context.output.table(["organization", "level", "id", "tier", "limit", "used", "of", "percent", "state"], rows)
        }
    }

    /// (limit name, used, limit) for every limit the level has; money in nanos.
    static func figures(_ usage: LevelUsage) -> [(String, Int64, Int64)] {
        let limits = usage.level.limits
        var figures: [(String, Int64, Int64)] = []
        if let tpm = limits.tpm, usage.windowTracked { figures.append(("tpm", usage.windowTokens, tpm)) }
        if let rpm = limits.rpm, usage.windowTracked { figures.append(("rpm", usage.windowRequests, rpm)) }
        if let budget = limits.dailyBudget { figures.append(("budget_daily", usage.daySpent.nanos + usage.dayHeld.nanos, budget.nanos)) }
        if let budget = limits.monthlyBudget { figures.append(("budget_monthly", usage.monthSpent.nanos + usage.monthHeld.nanos, budget.nanos)) }
        if let tokens = limits.dailyTokens { figures.append(("tokens_daily", usage.dayTokens, tokens)) }
        if let tokens = limits.monthlyTokens { figures.append(("tokens_monthly", usage.monthTokens, tokens)) }
        return figures
    }

    static func show(_ value: Int64, money: Bool, currency: Currency) -> String {
        money ? Money(nanos: value, currency: currency).decimalString : String(value)
    }
}

/// `tollgate watch`: decisions and alerts as they happen.
public struct WatchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "watch", abstract: "Live view of refusals, degraded decisions and alerts.")
    @OptionGroup var options: AdminOptions
    @Option(help: "Stop after this many seconds (default: until interrupted).") var seconds: Double?

    public init() {}

    public func run() async throws {
        var logger = Logger(label: "tollgate.cli")
        logger.logLevel = .critical
        var configuration = try RedisConnector.parse(options.redis).configuration
        configuration.clientName = "tollgate-watch"
        let channel = KeyLayout(prefix: options.prefix).eventsChannel
        let subscriber = RedisSubscriber(configuration: configuration, channels: [channel], logger: logger)
        let json = options.json
        FileHandle.standardError.write(Data("watching \(channel) on \(configuration.endpoint) (Ctrl-C to stop)\n".utf8))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in subscriber.events {
                    guard case .message(_, let payload) = event else { continue }
                    let text = String(decoding: payload, as: UTF8.self)
                    FileHandle.standardOutput.write(Data(((json ? text : Self.describe(text)) + "\n").utf8))
                }
            }
            if let seconds {
                group.addTask { try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
            }
            await group.next()
            group.cancelAll()
        }
        await subscriber.shutdown()
    }

    /// One readable line from an event's JSON.
    static func describe(_ text: String) -> String {
        guard let event = try? JSONValue.parse(text).objectValue else { return text }
        let time = event["at"]?.integerValue.map(Timestamp.format) ?? ""
        let fields = event.keys.sorted().filter { $0 != "at" && $0 != "type" }.map { key in "\(key)=\(event[key]?.stringValue ?? event[key]?.integerValue.map(String.init) ?? "")" }
        return "\(time)  \(event["type"]?.stringValue ?? "event")  " + fields.joined(separator: " ")
    }
}
