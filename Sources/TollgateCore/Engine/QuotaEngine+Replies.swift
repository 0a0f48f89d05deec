import Foundation
import TollgateRedis

/// Reads a script's reply element by element: a missing element, an element of another type,
/// an unknown status or limit, or elements left over are an error, never a zero.
struct ReplyReader {
    private let reply: RedisReply
    private let parts: [RedisReply]
    private let script: String
    private var index = 0

    init(_ reply: RedisReply, script: String) throws(EngineError) {
        guard let parts = reply.array else { throw .unexpected(reply, script) }
        self.reply = reply
        self.parts = parts
        self.script = script
    }

    var remaining: Int { parts.count - index }

    mutating func int() throws(EngineError) -> Int64 {
        guard index < parts.count, let value = parts[index].int else { throw .unexpected(reply, script) }
        index += 1
        return value
    }

    mutating func string() throws(EngineError) -> String {
        guard index < parts.count, let value = parts[index].string else { throw .unexpected(reply, script) }
        index += 1
        return value
    }

    mutating func flag() throws(EngineError) -> Bool {
        switch try int() {
        case 0: return false
        case 1: return true
        default: throw .unexpected(reply, script)
        }
    }

    mutating func status<Status: RawRepresentable>(_ type: Status.Type) throws(EngineError) -> Status where Status.RawValue == Int64 {
        guard let status = Status(rawValue: try int()) else { throw .unexpected(reply, script) }
        return status
    }

    mutating func word<Word: RawRepresentable>(_ type: Word.Type) throws(EngineError) -> Word where Word.RawValue == String {
        guard let word = Word(rawValue: try string()) else { throw .unexpected(reply, script) }
        return word
    }

    /// Throws unless every element was read.
    func end() throws(EngineError) {
        guard index == parts.count else { throw .unexpected(reply, script) }
    }

    func failure() -> EngineError { .unexpected(reply, script) }
}

extension QuotaEngine {
    public func decodeReserve(_ reply: RedisReply, request: ReserveRequest, plan: RequestPlan, price: ResolvedPrice, settings: Settings) throws(EngineError) -> ReserveDecision {
        var reader = try ReplyReader(reply, script: "reserve")
        let currency = settings.currency
        switch try reader.status(ScriptContract.ReserveStatus.self) {
        case .allowed:
            let expiry = try reader.int(), tokens = try reader.int(), cost = try reader.int(), now = try reader.int()
            let status = try Self.rateLimitStatus(&reader)
            try reader.end()
            return .allowed(Hold(requestID: request.requestID, reservedAt: now, expiresAt: expiry, estimatedTokens: tokens,
                                 estimatedCost: Money(nanos: cost, currency: currency), priceVersion: price.versionID), status)
        case .limited:
            let limit = try reader.word(ScriptContract.LimitKind.self)
            let level = try reader.int()
            guard (1...Int64(plan.levels.count)).contains(level) else { throw reader.failure() }
            let retry = try reader.int()
            let tooLarge = try reader.flag()
            let status = try Self.rateLimitStatus(&reader)
            try reader.end()
            let scope = plan.levels[Int(level) - 1].scope
            let reason: LimitReason = tooLarge ? .tooLarge : scope == .user ? .userCap : Self.reason(limit)
            return .limited(LimitRefusal(reason: reason, limit: limit.rawValue, scope: scope,
                                         retryAfter: tooLarge || retry < 0 ? nil : .milliseconds(max(1, retry))), status)
        case .duplicate:
            let state = try reader.string()
            let expiry = try reader.int(), tokens = try reader.int(), cost = try reader.int(), reservedAt = try reader.int()
            try reader.end()
            if state == "H" {
                return .alreadyHeld(Hold(requestID: request.requestID, reservedAt: reservedAt, expiresAt: expiry, estimatedTokens: tokens,
                                         estimatedCost: Money(nanos: cost, currency: currency), priceVersion: price.versionID))
            }
            guard let outcome = ScriptContract.Outcome(rawValue: state) else { throw reader.failure() }
            return .alreadyUsed(state: outcome.stateName)
        }
    }

    public func decodeSettle(_ reply: RedisReply, request: SettleRequest, settings: Settings) throws(EngineError) -> Settlement {
        var reader = try ReplyReader(reply, script: "settle")
        let status = try reader.status(ScriptContract.SettleStatus.self)
        if status == .noModel {
            guard try reader.string() == "no_model" else { throw reader.failure() }
            try reader.end()
            throw EngineError(kind: .noModel, message: "request_id '\(request.requestID)' has no live reservation: name the model to record its usage", redis: nil)
        }
        let cost = try reader.int(), version = try reader.string(), model = try reader.string(), settledHold = try reader.flag()
        let over = try reader.string(), settledAt = try reader.int()
        let usage = TokenUsage(input: try reader.int(), cachedInput: try reader.int(), cacheWrite: try reader.int(),
                               output: try reader.int(), reasoning: try reader.int())
        let estimated = try reader.int()
        try reader.end()
        return Settlement(isNew: status == .settled, usage: usage, cost: Money(nanos: cost, currency: settings.currency),
                          priceVersion: version, model: model, settledHold: settledHold,
                          overLimits: over.isEmpty ? [] : over.split(separator: ",").map(String.init), settledAt: settledAt,
                          estimatedTokens: status == .settled && settledHold ? estimated : nil)
    }

    func decodeRelease(_ reply: RedisReply, settings: Settings) throws(EngineError) -> ReleaseOutcome {
        var reader = try ReplyReader(reply, script: "release")
        let status = try reader.status(ScriptContract.ReleaseStatus.self)
        let word = try reader.string()
        let outcome: ReleaseOutcome
        switch (status, word) {
        case (.returned, "released"), (.returned, "expired"):
            let tokens = try reader.int(), cost = Money(nanos: try reader.int(), currency: settings.currency)
            outcome = word == "released" ? .released(tokens: tokens, cost: cost) : .expired(tokens: tokens, cost: cost)
        case (.before, "released"): outcome = .alreadyReleased
        case (.before, "expired"): outcome = .alreadyExpired
        case (.nothing, "committed"): outcome = .alreadyCommitted
        case (.nothing, "unknown"): outcome = .unknown
        case (.nothing, "live"): outcome = .notDue
        default: throw reader.failure()
        }
        try reader.end()
        return outcome
    }

    func decodeQuota(_ reply: RedisReply, levels: [LevelPlan], timezone: TimeZone, settings: Settings) throws(EngineError) -> QuotaSnapshot {
        var reader = try ReplyReader(reply, script: "quota")
        let now = try reader.int()
        let currency = settings.currency
        var usages: [LevelUsage] = []
        for level in levels {
            let tracked = try reader.flag(), tokens = try reader.int(), requests = try reader.int(), reset = try reader.int()
            let daySpent = try reader.int(), dayHeld = try reader.int(), dayTokens = try reader.int()
            let monthSpent = try reader.int(), monthHeld = try reader.int(), monthTokens = try reader.int()
            usages.append(LevelUsage(level: level, windowTracked: tracked, windowTokens: tokens, windowRequests: requests, windowReset: .milliseconds(reset),
                                     daySpent: Money(nanos: daySpent, currency: currency), dayHeld: Money(nanos: dayHeld, currency: currency),
                                     dayTokens: dayTokens,
                                     monthSpent: Money(nanos: monthSpent, currency: currency), monthHeld: Money(nanos: monthHeld, currency: currency),
                                     monthTokens: monthTokens))
        }
        try reader.end()
        let resets = PeriodCalendar(timezone: timezone).resets(after: now)
        return QuotaSnapshot(now: now, levels: usages, dayResetsAt: resets.day, monthResetsAt: resets.month)
    }

    /// The six header values: tokens limit, remaining, reset ms, then the same for requests
    /// (-1: no level has that limit).
    static func rateLimitStatus(_ reader: inout ReplyReader) throws(EngineError) -> RateLimitStatus {
        func value(_ number: Int64) -> Int64? { number < 0 ? nil : number }
        let tokensLimit = try reader.int(), tokensRemaining = try reader.int(), tokensReset = try reader.int()
        let requestsLimit = try reader.int(), requestsRemaining = try reader.int(), requestsReset = try reader.int()
        return RateLimitStatus(tokensLimit: value(tokensLimit), tokensRemaining: value(tokensRemaining), tokensReset: .milliseconds(max(0, tokensReset)),
                               requestsLimit: value(requestsLimit), requestsRemaining: value(requestsRemaining),
                               requestsReset: .milliseconds(max(0, requestsReset)))
    }

    static func reason(_ limit: ScriptContract.LimitKind) -> LimitReason {
        switch limit {
        case .tpm: .tpm
        case .rpm: .rpm
        case .budgetDaily, .tokensDaily: .budgetDaily
        case .budgetMonthly, .tokensMonthly: .budgetMonthly
        }
    }
}

extension ScriptContract.Outcome {
    /// The word the API uses for a request id used before.
    var stateName: String {
        switch self {
        case .committedHold, .committed: "committed"
        case .released: "released"
        case .expired: "expired"
        }
    }
}
