import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// `tollgate tier …`: named bundles of limits and behaviour.
public struct TierCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tier", abstract: "Manage tiers: limits, user caps, allowed models, holds, alerts, failure mode, timezone.",
        subcommands: [Set.self, List.self, Show.self, Remove.self])

    public init() {}

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tier, or change the fields given (others stay).")
        @OptionGroup var options: AdminOptions
        @Argument var name: String
        @OptionGroup var limits: LimitOptions
        @Option(help: "Per-user tokens per minute, or 'none'.") var userTpm: String?
        @Option(help: "Per-user spend per day, or 'none'.") var userDailySpend: String?
        @Option(help: "Allowed models (names or prefix*), comma-separated, or 'all'.") var allowedModels: String?
        @Option(help: "Output tokens assumed when a reservation gives no max_output_tokens.") var defaultOutputTokens: Int64?
        @Option(help: "Seconds a reservation is held before it expires and is refunded.") var holdSeconds: Int?
        @Option(help: "Alert thresholds in percent, comma-separated (e.g. 50,80,90,100).") var alertThresholds: String?
        @Option(help: "Minutes of TPM saturation before an alert.") var tpmSaturationMinutes: Int?
        @Option(help: "Alert when an organization's cache-hit rate today falls below this percentage (1-100), or 'off' (the default).") var cacheHitAlert: String?
        @Option(help: "Requests that said whether they hit the cache, today, before that alert may fire (default 100).") var cacheHitAlertMinimumRequests: Int?
        @Option(help: "open or closed: what happens when Redis is unreachable.") var failureMode: String?
        @Option(help: "IANA timezone of budget periods (e.g. Europe/Berlin).") var timezone: String?
        @Option(help: "Fallback price per 1M input tokens for unknown models, or 'none'.") var fallbackInput: String?
        @Option(help: "Fallback price per 1M output tokens for unknown models.") var fallbackOutput: String?
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func validate() throws {
            guard Identifier.isValid(name) else { throw ValidationError("the tier name must be 1-64 letters, digits, '.', '_' or '-'") }
            if let failureMode, FailureMode(rawValue: failureMode) == nil { throw ValidationError("--failure-mode must be open or closed") }
            if let timezone, TimeZone(identifier: timezone) == nil { throw ValidationError("--timezone '\(timezone)' is not an IANA timezone") }
            if let thresholds = InputParsing.list(alertThresholds), thresholds.contains(where: { Int($0).map { !(1...1_000).contains($0) } ?? true }) {
                throw ValidationError("--alert-thresholds must be percentages between 1 and 1000, e.g. 50,80,90,100")
            }
            if let cacheHitAlert, cacheHitAlert != "off", Int(cacheHitAlert).map({ !(1...100).contains($0) }) ?? true {
                throw ValidationError("--cache-hit-alert must be a percentage between 1 and 100, or 'off'")
            }
            if let cacheHitAlertMinimumRequests, !(1...1_000_000_000).contains(cacheHitAlertMinimumRequests) {
                throw ValidationError("--cache-hit-alert-minimum-requests must be between 1 and 1000000000")
            }
            if (fallbackInput == nil) != (fallbackOutput == nil) && fallbackInput != "none" {
                throw ValidationError("give both --fallback-input and --fallback-output (or --fallback-input none)")
            }
        }

        func run() async throws {
            try await AdminContext.run(options) { context in
                try await context.change("tier set \(name)", reason: reason) { configuration in
                    try configuration.setTier(name, try change(currency: configuration.settings.currency))
                }
            }
        }

        /// The options given, as a change of the tier.
        func change(currency: Currency) throws -> TierChange {
            var change = TierChange()
            change.limits = try limits.change(currency: currency)
            if let userTpm { change.userTPM = userTpm == "none" ? .remove : .set(try InputParsing.count(userTpm, option: "--user-tpm")) }
            if let userDailySpend {
                change.userDailySpend = userDailySpend == "none" ? .remove : .set(try InputParsing.money(userDailySpend, currency: currency, option: "--user-daily-spend"))
            }
            if let allowedModels { change.allowedModels = allowedModels == "all" ? .remove : .set(InputParsing.list(allowedModels) ?? []) }
            change.defaultOutputTokens = defaultOutputTokens
            change.holdSeconds = holdSeconds
            change.alertThresholds = InputParsing.list(alertThresholds)?.compactMap(Int.init)
            change.tpmSaturationMinutes = tpmSaturationMinutes
            if let cacheHitAlert { change.cacheHitAlertPercent = cacheHitAlert == "off" ? .remove : .set(Int(cacheHitAlert) ?? 0) }
            change.cacheHitAlertMinimumRequests = cacheHitAlertMinimumRequests
            change.failureMode = failureMode.flatMap(FailureMode.init(rawValue:))
            change.timezone = timezone
            if fallbackInput == "none" {
                change.fallbackPrice = .remove
            } else if let fallbackInput, let fallbackOutput {
                do { change.fallbackPrice = .set(try TokenPrices(input: fallbackInput, output: fallbackOutput)) } catch { throw AdminError.invalid("\(error)") }
            }
            return change
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every tier.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                let counts = try await context.redis.send(.keyed("HGETALL", context.keys.tierUse)).array ?? []
                var usage: [String: Int64] = [:]
                for index in stride(from: 0, to: counts.count - 1, by: 2) { usage[counts[index].string ?? ""] = counts[index + 1].int }
                context.output.table(["name", "limits", "user_caps", "failure_mode", "timezone", "used_by"],
                                     configuration.tiers.values.sorted { $0.name < $1.name }.map { tier in
                    ["name": tier.name, "limits": tier.limits.summary,
                     "user_caps": tier.userCaps.map { Limits(tpm: $0.tpm, dailyBudget: $0.dailySpend).summary } ?? "-",
                     "failure_mode": tier.failureMode.rawValue, "timezone": tier.timezone, "used_by": String(usage[tier.name] ?? 0)]
                })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One tier, every field.")
        @OptionGroup var options: AdminOptions
        @Argument var name: String

        func run() async throws {
            try await AdminContext.run(options) { context in
                let configuration = try await context.load().configuration
                guard let tier = configuration.tiers[name] else { throw AdminError("unknown tier '\(name)'") }
                context.output.record([
                    ("name", tier.name), ("limits", tier.limits.summary),
                    ("user_caps", tier.userCaps.map { Limits(tpm: $0.tpm, dailyBudget: $0.dailySpend).summary } ?? "-"),
                    ("allowed_models", tier.allowedModels?.joined(separator: ",") ?? "all"),
                    ("default_output_tokens", String(tier.defaultOutputTokens)), ("hold_seconds", String(tier.holdSeconds)),
                    ("alert_thresholds", tier.alertThresholds.map(String.init).joined(separator: ",")),
                    ("tpm_saturation_minutes", String(tier.tpmSaturationMinutes)),
                    ("cache_hit_alert", tier.cacheHitAlertPercent.map { "below \($0)% after \(tier.cacheHitAlertMinimumRequests) requests" } ?? "off"),
                    ("failure_mode", tier.failureMode.rawValue), ("timezone", tier.timezone),
                    ("fallback_price", tier.fallbackPrice.map { "input=\($0.decimal($0.input)) output=\($0.decimal($0.output))" } ?? "none"),
                    ("used_by", "\(try await context.customers().usage(ofTier: name)) organizations or workspaces"),
                ])
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a tier nobody uses.")
        @OptionGroup var options: AdminOptions
        @Argument var name: String
        @Option(help: "Why, for the audit log.") var reason: String = ""

        func run() async throws {
            try await AdminContext.run(options) { context in
                // config-write refuses too, atomically, if one starts using it meanwhile.
                let users = try await context.customers().usage(ofTier: name)
                guard users == 0 else { throw AdminError("tier '\(name)' is in use by \(users) organizations or workspaces") }
                try await context.change("tier rm \(name)", reason: reason) { configuration in try configuration.removeTier(name) }
            }
        }
    }
}
