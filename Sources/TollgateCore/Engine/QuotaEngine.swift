import Foundation
import TollgateRedis

/// What a reservation asks for.
public struct ReserveRequest: Sendable, Hashable {
    public var requestID: String
    public var model: String
    public var inputTokens: Int64
    public var maxOutputTokens: Int64?
    public var user: String?
    public var feature: String?
    public var session: String?
    /// The experiment (variant) the request belongs to, for comparing variants' cost.
    public var experiment: String?

    public init(requestID: String, model: String, inputTokens: Int64, maxOutputTokens: Int64? = nil, user: String? = nil, feature: String? = nil, session: String? = nil,
                experiment: String? = nil) {
        self.requestID = requestID
        self.model = model
        self.inputTokens = inputTokens
        self.maxOutputTokens = maxOutputTokens
        self.user = user
        self.feature = feature
        self.session = session
        self.experiment = experiment
    }
}

/// What a commit or record reports.
public struct SettleRequest: Sendable, Hashable {
    public enum Kind: String, Sendable { case commit, record }
    public var kind: Kind
    public var requestID: String
    public var usage: TokenUsage
    public var format: UsageFormat?
    /// The model actually used; nil means "as reserved" (commit only).
    public var price: ResolvedPrice?
    public var user: String?
    public var feature: String?
    public var session: String?
    public var experiment: String?
    public var latencyMillis: Int64?
    public var cacheHit: Bool?

    public init(kind: Kind, requestID: String, usage: TokenUsage, format: UsageFormat? = nil, price: ResolvedPrice? = nil,
                user: String? = nil, feature: String? = nil, session: String? = nil, experiment: String? = nil,
                latencyMillis: Int64? = nil, cacheHit: Bool? = nil) {
        self.kind = kind
        self.requestID = requestID
        self.usage = usage
        self.format = format
        self.price = price
        self.user = user
        self.feature = feature
        self.session = session
        self.experiment = experiment
        self.latencyMillis = latencyMillis
        self.cacheHit = cacheHit
    }
}

/// Errors of the engine beyond Redis' own.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Redis failed (see ``redis``).
        case redis
        /// A commit found no live hold and named no model to price the usage with.
        case noModel
        /// Redis answered in a shape the engine does not understand.
        case unexpectedReply
    }

    public let kind: Kind
    public let message: String
    public let redis: RedisError?

    public var description: String { message }

    static func from(_ error: RedisError) -> EngineError { EngineError(kind: .redis, message: error.description, redis: error) }
    static func unexpected(_ reply: RedisReply, _ script: String) -> EngineError {
        EngineError(kind: .unexpectedReply, message: "unexpected reply from \(script): \(reply)", redis: nil)
    }
}

/// Reserve, commit, record, release and read quotas: one script call, one round trip each.
public struct QuotaEngine: Sendable {
    public let redis: any RedisExecutor
    public let keys: KeyLayout
    public let scripts: QuotaScripts
    /// Added to Redis' clock in every script: 0 in production; tests move time with it.
    public var clockOffsetMillis: Int64

    public init(redis: any RedisExecutor, keys: KeyLayout, scripts: QuotaScripts, clockOffsetMillis: Int64 = 0) {
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.clockOffsetMillis = clockOffsetMillis
    }

    // MARK: Reserve

    public func reserve(_ request: ReserveRequest, plan: RequestPlan, price: ResolvedPrice, settings: Settings) async throws(EngineError) -> ReserveDecision {
        let reply = try await run(reserveCommand(request, plan: plan, price: price, settings: settings))
        return try decodeReserve(reply, request: request, plan: plan, price: price, settings: settings)
    }

    /// The `EVALSHA` of a reservation, for callers that pipeline or benchmark.
    public func reserveCommand(_ request: ReserveRequest, plan: RequestPlan, price: ResolvedPrice, settings: Settings) -> RedisCommand {
        let organization = plan.organization.id
        var numbers = PackedNumbers()
        numbers.append(clockOffsetMillis, plan.timezoneOffsetMillis, Int64(settings.bucketMilliseconds), Int64(settings.bucketsPerWindow),
                       Int64(plan.tier.holdSeconds) * 1_000, Int64(settings.idempotencyHours) * 3_600_000,
                       request.inputTokens, request.maxOutputTokens ?? plan.tier.defaultOutputTokens)
        numbers.append(price.prices.effective)
        numbers.appendLevels(plan.levels)
        var arguments: [any RedisArgument] = [
            keys.holdMember(organization: organization, id: request.requestID),
            Self.columns(price: price, user: request.user, feature: request.feature, session: request.session, experiment: request.experiment, plan: plan),
        ]
        arguments += plan.levels.map { $0.field as any RedisArgument }
        arguments.append(numbers.bytes)
        return command(scripts.reserve, keys: [
            keys.state(organization: organization),
            keys.request(organization: organization, id: request.requestID),
            keys.holds(organization: organization),
        ], arguments)
    }

    public func decodeReserve(_ reply: RedisReply, request: ReserveRequest, plan: RequestPlan, price: ResolvedPrice, settings: Settings) throws(EngineError) -> ReserveDecision {
        guard let parts = reply.array, let status = parts.first?.int else { throw .unexpected(reply, "reserve") }
        let currency = settings.currency
        switch status {
        case 1 where parts.count >= 11:
            let hold = Hold(requestID: request.requestID, reservedAt: parts[4].int ?? 0, expiresAt: parts[1].int ?? 0, estimatedTokens: parts[2].int ?? 0,
                            estimatedCost: Money(nanos: parts[3].int ?? 0, currency: currency), priceVersion: price.versionID)
            return .allowed(hold, Self.status(parts, from: 5))
        case 0 where parts.count >= 11:
            let limit = parts[1].string ?? "?"
            let index = max(0, min(plan.levels.count - 1, Int(parts[2].int ?? 1) - 1))
            let scope = plan.levels[index].scope
            let tooLarge = parts[4].int == 1
            let reason = tooLarge ? .tooLarge : scope == .user ? .userCap : Self.reason(limit)
            let retry = parts[3].int.flatMap { $0 < 0 ? nil : Duration.milliseconds(max(1, $0)) }
            return .limited(LimitRefusal(reason: reason, limit: limit, scope: scope, retryAfter: tooLarge ? nil : retry), Self.status(parts, from: 5))
        case 2 where parts.count >= 5:
            let state = parts[1].string ?? "?"
            guard state == "H" else { return .alreadyUsed(state: Self.stateName(state)) }
            return .alreadyHeld(Hold(requestID: request.requestID, reservedAt: parts[5].int ?? 0, expiresAt: parts[2].int ?? 0, estimatedTokens: parts[3].int ?? 0,
                                     estimatedCost: Money(nanos: parts[4].int ?? 0, currency: currency), priceVersion: price.versionID))
        default:
            throw .unexpected(reply, "reserve")
        }
    }

    // MARK: Commit and record

    public func settle(_ request: SettleRequest, plan: RequestPlan, settings: Settings) async throws(EngineError) -> Settlement {
        let reply = try await run(settleCommand(request, plan: plan, settings: settings))
        return try decodeSettle(reply, request: request, settings: settings)
    }

    /// The `EVALSHA` of a commit or record, for callers that pipeline or benchmark.
    public func settleCommand(_ request: SettleRequest, plan: RequestPlan, settings: Settings) -> RedisCommand {
        let organization = plan.organization.id
        var levels = plan.levels
        // Without the user named, a reservation's user cap is still settled: the script takes
        // the user from the reservation (an empty field).
        if request.user == nil, let level = plan.tier.userLevel("") { levels.append(level) }
        var numbers = PackedNumbers()
        numbers.append(clockOffsetMillis, plan.timezoneOffsetMillis, Int64(settings.bucketMilliseconds), Int64(settings.bucketsPerWindow),
                       Int64(settings.idempotencyHours) * 3_600_000)
        numbers.append(request.usage.components)
        numbers.append(request.latencyMillis ?? -1, request.cacheHit.map { $0 ? 1 : 0 } ?? -1, request.price == nil ? 0 : 1)
        numbers.append(request.price?.prices.effective ?? [0, 0, 0, 0, 0])
        numbers.appendLevels(levels)
        // Columns override the reservation's only where given; with none given, the
        // reservation's are used as they are.
        let overrides = request.price != nil || request.user != nil || request.feature != nil || request.session != nil
            || request.experiment != nil
        let columns = overrides || request.kind == .record
            ? Self.columns(price: request.price, user: request.user, feature: request.feature, session: request.session,
                           experiment: request.experiment, plan: plan)
            : ""
        var arguments: [any RedisArgument] = [
            keys.holdMember(organization: organization, id: request.requestID), request.kind.rawValue,
            request.requestID, organization, request.format?.rawValue ?? "", columns,
        ]
        arguments += levels.map { ($0.scope == .user && $0.id.isEmpty ? "" : $0.field) as any RedisArgument }
        arguments.append(numbers.bytes)
        return command(scripts.settle, keys: [
            keys.state(organization: organization),
            keys.request(organization: organization, id: request.requestID),
            keys.holds(organization: organization),
            keys.ledger(organization: organization),
        ], arguments)
    }

    public func decodeSettle(_ reply: RedisReply, request: SettleRequest, settings: Settings) throws(EngineError) -> Settlement {
        guard let parts = reply.array, let status = parts.first?.int else { throw .unexpected(reply, "settle") }
        if status == 0 {
            throw EngineError(kind: .noModel, message: "request_id '\(request.requestID)' has no live reservation: name the model to record its usage", redis: nil)
        }
        guard parts.count >= 12 else { throw .unexpected(reply, "settle") }
        let usage = TokenUsage(input: parts[7].int ?? 0, cachedInput: parts[8].int ?? 0, cacheWrite: parts[9].int ?? 0,
                               output: parts[10].int ?? 0, reasoning: parts[11].int ?? 0)
        let over = parts[5].string ?? ""
        return Settlement(isNew: status == 1, usage: usage, cost: Money(nanos: parts[1].int ?? 0, currency: settings.currency),
                          priceVersion: parts[2].string ?? "", model: parts[3].string ?? "", settledHold: parts[4].int == 1,
                          overLimits: over.isEmpty ? [] : over.split(separator: ",").map(String.init), settledAt: parts[6].int ?? 0,
                          estimatedTokens: status == 1 && parts[4].int == 1 && parts.count > 12 ? parts[12].int : nil)
    }

    // MARK: Release and expiry

    public enum ReleaseMode: String, Sendable { case release, expire }

    public func release(requestID: String, organization: String, timezoneOffsetMillis: Int64, mode: ReleaseMode = .release, settings: Settings) async throws(EngineError) -> ReleaseOutcome {
        var numbers = PackedNumbers()
        numbers.append(clockOffsetMillis, timezoneOffsetMillis, Int64(settings.bucketMilliseconds), Int64(settings.bucketsPerWindow),
                       Int64(settings.idempotencyHours) * 3_600_000)
        let reply = try await run(command(scripts.release, keys: [
            keys.state(organization: organization),
            keys.request(organization: organization, id: requestID),
            keys.holds(organization: organization),
        ], [keys.holdMember(organization: organization, id: requestID), mode.rawValue, numbers.bytes]))
        guard let parts = reply.array, parts.count >= 2, let status = parts[0].int, let word = parts[1].string else { throw .unexpected(reply, "release") }
        switch (status, word) {
        case (1, "released"): return .released(tokens: parts[2].int ?? 0, cost: Money(nanos: parts[3].int ?? 0, currency: settings.currency))
        case (1, "expired"): return .expired(tokens: parts[2].int ?? 0, cost: Money(nanos: parts[3].int ?? 0, currency: settings.currency))
        case (2, "released"): return .alreadyReleased
        case (2, "expired"): return .alreadyExpired
        case (0, "committed"): return .alreadyCommitted
        case (0, "unknown"): return .unknown
        case (0, "live"): return .notDue
        default: throw .unexpected(reply, "release")
        }
    }

    // MARK: Quota

    public func quota(plan: RequestPlan, settings: Settings) async throws(EngineError) -> QuotaSnapshot {
        try await quota(organization: plan.organization.id, levels: plan.levels, timezone: plan.timezone, settings: settings)
    }

    /// Any levels of one organisation (for the CLI's `status` and `budget show`).
    public func quota(organization: String, levels: [LevelPlan], timezone: TimeZone, settings: Settings) async throws(EngineError) -> QuotaSnapshot {
        let offset = Int64(timezone.secondsFromGMT()) * 1_000
        var numbers = PackedNumbers()
        numbers.append(clockOffsetMillis, offset, Int64(settings.bucketMilliseconds), Int64(settings.bucketsPerWindow))
        var arguments = levels.map { $0.field as any RedisArgument }
        arguments.append(numbers.bytes)
        let reply = try await run(command(scripts.quota, keys: [keys.state(organization: organization)], arguments))
        guard let parts = reply.array, parts.count == 1 + levels.count * 10, let now = parts[0].int else { throw .unexpected(reply, "quota") }
        let currency = settings.currency
        let levels = levels.enumerated().map { index, level in
            let p = Array(parts[(1 + index * 10)..<(11 + index * 10)])
            return LevelUsage(level: level, windowTracked: p[0].int == 1, windowTokens: p[1].int ?? 0, windowRequests: p[2].int ?? 0,
                              windowReset: .milliseconds(p[3].int ?? 0),
                              daySpent: Money(nanos: p[4].int ?? 0, currency: currency), dayHeld: Money(nanos: p[5].int ?? 0, currency: currency),
                              dayTokens: p[6].int ?? 0,
                              monthSpent: Money(nanos: p[7].int ?? 0, currency: currency), monthHeld: Money(nanos: p[8].int ?? 0, currency: currency),
                              monthTokens: p[9].int ?? 0)
        }
        let resets = PeriodCalendar(timezone: timezone).resets(after: now)
        return QuotaSnapshot(now: now, levels: levels, dayResetsAt: resets.day, monthResetsAt: resets.month)
    }

    /// End users with counters in `organization`'s state hash (at most `limit`), for reading
    /// their quotas: `status` and the monitor's alerts.
    public func users(organization: String, limit: Int = 10_000) async throws(EngineError) -> [String] {
        let key = keys.state(organization: organization)
        var users: [String] = []
        var cursor = "0"
        repeat {
            let reply = try await run(.keyed("HSCAN", key, cursor, "MATCH", "u:*", "COUNT", 500))
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let items = parts[1].array else { throw .unexpected(reply, "HSCAN") }
            cursor = next
            for index in stride(from: 0, to: items.count, by: 2) {
                guard let field = items[index].string else { throw .unexpected(reply, "HSCAN") }
                users.append(String(field.dropFirst(2)))
            }
        } while cursor != "0" && users.count < limit
        return Array(users.prefix(limit))
    }

    // MARK: Corrections

    public enum BudgetPeriod: String, Sendable { case day, month }

    /// Credits `amount` back to a subject's spend of the current period (`amount` nil: resets
    /// it to zero). Returns the spend before and after.
    public func adjustBudget(organization: String, level: LevelPlan, period: BudgetPeriod, credit amount: Money?, timezone: TimeZone,
                             settings: Settings) async throws(EngineError) -> (before: Money, after: Money) {
        var numbers = PackedNumbers()
        numbers.append(clockOffsetMillis, Int64(timezone.secondsFromGMT()) * 1_000, Int64(settings.bucketMilliseconds), Int64(settings.bucketsPerWindow))
        let reply = try await run(command(scripts.adjust, keys: [keys.state(organization: organization)], [
            level.field, period.rawValue, amount == nil ? "reset" : "credit", String(amount?.nanos ?? 0), numbers.bytes,
        ]))
        guard let parts = reply.array, parts.count == 2, let before = parts[0].int, let after = parts[1].int else { throw .unexpected(reply, "adjust") }
        return (Money(nanos: before, currency: settings.currency), Money(nanos: after, currency: settings.currency))
    }

    // MARK: Plumbing

    private func command(_ script: RedisScript, keys: [String], _ arguments: [any RedisArgument]) -> RedisCommand {
        assert(KeyLayout.sameSlot(keys), "keys of one script must share a slot: \(keys)")
        return .evalsha(script, keys: keys, arguments: arguments)
    }

    private func run(_ command: RedisCommand) async throws(EngineError) -> RedisReply {
        do {
            return try await redis.send(command)
        } catch {
            throw .from(error)
        }
    }

    /// Model, provider, price version, user, feature, session, tier, key, workspace, experiment:
    /// tab-separated, with tabs and line breaks in values replaced by spaces.
    static func columns(price: ResolvedPrice?, user: String?, feature: String?, session: String?, experiment: String?, plan: RequestPlan) -> String {
        [price?.model, price?.provider, price?.versionID, user, feature, session, plan.tier.name, plan.key.id, plan.workspace.id, experiment]
            .map { value in String((value ?? "").map { $0 == "\t" || $0 == "\n" || $0 == "\r" ? " " : $0 }) }
            .joined(separator: "\t")
    }

    static func status(_ parts: [RedisReply], from index: Int) -> RateLimitStatus {
        func value(_ offset: Int) -> Int64? { parts[index + offset].int.flatMap { $0 < 0 ? nil : $0 } }
        return RateLimitStatus(tokensLimit: value(0), tokensRemaining: value(1), tokensReset: .milliseconds(max(0, value(2) ?? 0)),
                               requestsLimit: value(3), requestsRemaining: value(4), requestsReset: .milliseconds(max(0, value(5) ?? 0)))
    }

    static func reason(_ limit: String) -> LimitReason {
        switch limit {
        case "tpm": .tpm
        case "rpm": .rpm
        case "budget_daily", "tokens_daily": .budgetDaily
        default: .budgetMonthly
        }
    }

    static func stateName(_ state: String) -> String {
        switch state {
        case "C": "committed"
        case "R": "released"
        case "X": "expired"
        default: state
        }
    }
}
