import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// Parsing of command-line values, each failure one clear sentence (exit 64, nothing written).
enum InputParsing {
    /// An ISO 8601 time or date (`2026-12-01`, `2026-12-01T09:00:00Z`), or `now`.
    static func time(_ text: String?, now: Int64, option: String) throws -> Int64 {
        guard let text, text != "now" else { return now }
        guard let millis = Timestamp.parse(text) else {
            throw AdminError.invalid("\(option) '\(text)' is not a date or ISO 8601 time (e.g. 2026-12-01 or 2026-12-01T09:00:00Z)")
        }
        return millis
    }

    static func money(_ text: String, currency: Currency, option: String) throws -> Money {
        do {
            let money = try Money(decimal: text, currency: currency)
            return money
        } catch {
            throw AdminError.invalid("\(option) \(error.description)")
        }
    }

    static func count(_ text: String, option: String) throws -> Int64 {
        guard let value = Int64(text), value >= 0 else { throw AdminError.invalid("\(option) must be a whole number of 0 or more, not '\(text)'") }
        guard value <= Limits.maximumCount else { throw AdminError.invalid("\(option) must be at most \(Limits.maximumCount)") }
        return value
    }

    static func identifier(_ text: String, what: String) throws -> String {
        guard Identifier.isValid(text) else { throw AdminError.invalid("\(what) '\(text)' must be 1-64 letters, digits, '.', '_' or '-'") }
        return text
    }

    static func list(_ text: String?) -> [String]? {
        text.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }
}

/// `--tpm`, `--rpm`, `--daily-budget`, ...: each sets a limit, or removes it with `none`.
struct LimitOptions: ParsableArguments {
    @Option(help: "Tokens per minute, or 'none'.") var tpm: String?
    @Option(help: "Requests per minute, or 'none'.") var rpm: String?
    @Option(help: "Spend per day in the currency (e.g. 25.00), or 'none'.") var dailyBudget: String?
    @Option(help: "Spend per month, or 'none'.") var monthlyBudget: String?
    @Option(help: "Tokens per day, or 'none'.") var dailyTokens: String?
    @Option(help: "Tokens per month, or 'none'.") var monthlyTokens: String?

    var isEmpty: Bool { [tpm, rpm, dailyBudget, monthlyBudget, dailyTokens, monthlyTokens].allSatisfy { $0 == nil } }

    /// `limits` with these options applied.
    func apply(to limits: Limits, currency: Currency) throws -> Limits {
        try change(currency: currency).applied(to: limits)
    }

    /// These options as a change: each limit given is set, or removed with `none`.
    func change(currency: Currency) throws -> LimitsChange {
        var change = LimitsChange()
        func count(_ text: String?, _ option: String) throws -> FieldEdit<Int64> {
            guard let text else { return .keep }
            return text == "none" ? .remove : .set(try InputParsing.count(text, option: option))
        }
        func money(_ text: String?, _ option: String) throws -> FieldEdit<Money> {
            guard let text else { return .keep }
            return text == "none" ? .remove : .set(try InputParsing.money(text, currency: currency, option: option))
        }
        change.tpm = try count(tpm, "--tpm")
        change.rpm = try count(rpm, "--rpm")
        change.dailyBudget = try money(dailyBudget, "--daily-budget")
        change.monthlyBudget = try money(monthlyBudget, "--monthly-budget")
        change.dailyTokens = try count(dailyTokens, "--daily-tokens")
        change.monthlyTokens = try count(monthlyTokens, "--monthly-tokens")
        return change
    }
}

extension Limits {
    /// `tpm=1000 daily_budget=25.00`, or `-` when there is none.
    var summary: String {
        var parts: [String] = []
        if let tpm { parts.append("tpm=\(tpm)") }
        if let rpm { parts.append("rpm=\(rpm)") }
        if let dailyBudget { parts.append("daily_budget=\(dailyBudget.decimalString)") }
        if let monthlyBudget { parts.append("monthly_budget=\(monthlyBudget.decimalString)") }
        if let dailyTokens { parts.append("daily_tokens=\(dailyTokens)") }
        if let monthlyTokens { parts.append("monthly_tokens=\(monthlyTokens)") }
        return parts.isEmpty ? "-" : parts.joined(separator: " ")
    }
}
