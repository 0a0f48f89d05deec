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
    /// Batches reserve and settle calls of a partition while one is in flight (shared by the
    /// engines of a process); nil sends every call on its own.
    public var coalescer: CallCoalescer?

    public init(redis: any RedisExecutor, keys: KeyLayout, scripts: QuotaScripts, clockOffsetMillis: Int64 = 0, coalescer: CallCoalescer? = nil) {
        self.redis = redis
        self.coalescer = coalescer
        self.keys = keys
        self.scripts = scripts
        self.clockOffsetMillis = clockOffsetMillis
    }

    // MARK: Reserve

    public func reserve(_ request: ReserveRequest, plan: RequestPlan, price: ResolvedPrice, settings: Settings) async throws(EngineError) -> ReserveDecision {
        let reply = try await run(reserveCommand(request, plan: plan, price: price, settings: settings), batch: scripts.reserveBatch,
                                  organization: plan.organization.id, settings: settings)
        return try decodeReserve(reply, request: request, plan: plan, price: price, settings: settings)
    }

    /// The `EVALSHA` of a reservation, for callers that pipeline or benchmark.
    public func reserveCommand(_ request: ReserveRequest, plan: RequestPlan, price: ResolvedPrice, settings: Settings) -> RedisCommand {
        let organization = plan.organization.id
        let slice = clientSlice(settings)
        var numbers = commonNumbers(timezoneOffsetMillis: plan.timezoneOffsetMillis, settings: settings, clientSlice: slice)
        numbers.append(ScriptContract.Reserve.self) { slot in
            switch slot {
            case .holdMs: Int64(plan.tier.holdSeconds) * 1_000
            case .estimatedInput: request.inputTokens
            case .estimatedOutput: request.maxOutputTokens ?? plan.tier.defaultOutputTokens
            case .priceInput: price.prices.effective[0]
            case .priceCachedInput: price.prices.effective[1]
            case .priceCacheWrite: price.prices.effective[2]
            case .priceOutput: price.prices.effective[3]
            case .priceReasoning: price.prices.effective[4]
            case .levelCount: Int64(plan.levels.count)
            }
        }
        numbers.appendLevels(plan.levels)
        let field = keys.outcomeField(organization: organization, id: request.requestID)
        var arguments: [any RedisArgument] = [
            field, keys.holdMember(organization: organization, id: request.requestID), keys.holdField(id: request.requestID),
            Self.columns(price: price, user: request.user, feature: request.feature, session: request.session, experiment: request.experiment, plan: plan),
        ]
        arguments += plan.levels.map { $0.field as any RedisArgument }
        arguments.append(sealed(numbers, settings: settings))
        return command(scripts.reserve, keys: [keys.state(organization: organization), keys.holds(organization: organization)]
            + slices(organization: organization, field: field, clientSlice: slice, settings: settings), arguments)
    }

    // MARK: Commit and record

    public func settle(_ request: SettleRequest, plan: RequestPlan, settings: Settings) async throws(EngineError) -> Settlement {
        let reply = try await run(settleCommand(request, plan: plan, settings: settings), batch: scripts.settleBatch,
                                  organization: plan.organization.id, settings: settings)
        return try decodeSettle(reply, request: request, settings: settings)
    }

    /// The `EVALSHA` of a commit or record, for callers that pipeline or benchmark.
    public func settleCommand(_ request: SettleRequest, plan: RequestPlan, settings: Settings) -> RedisCommand {
        let organization = plan.organization.id
        var levels = plan.levels
        // Without the user named, a reservation's user cap is still settled: the script takes
        // the user from the reservation (an empty field).
        if request.user == nil, let level = plan.tier.userLevel("") { levels.append(level) }
        let usage = request.usage
        let prices = request.price?.prices.effective ?? [0, 0, 0, 0, 0]
        let slice = clientSlice(settings)
        var numbers = commonNumbers(timezoneOffsetMillis: plan.timezoneOffsetMillis, settings: settings, clientSlice: slice)
        numbers.append(ScriptContract.Settle.self) { slot in
            switch slot {
            case .usageInput: usage.input
            case .usageCachedInput: usage.cachedInput
            case .usageCacheWrite: usage.cacheWrite
            case .usageOutput: usage.output
            case .usageReasoning: usage.reasoning
            case .latencyMs: request.latencyMillis ?? -1
            case .cacheHit: request.cacheHit.map { $0 ? 1 : 0 } ?? -1
            case .pricesGiven: request.price == nil ? 0 : 1
            case .priceInput: prices[0]
            case .priceCachedInput: prices[1]
            case .priceCacheWrite: prices[2]
            case .priceOutput: prices[3]
            case .priceReasoning: prices[4]
            case .levelCount: Int64(levels.count)
            }
        }
        numbers.appendLevels(levels)
        // Columns override the reservation's only where given; with none given, the
        // reservation's are used as they are.
        let overrides = request.price != nil || request.user != nil || request.feature != nil || request.session != nil
            || request.experiment != nil
        let columns = overrides || request.kind == .record
            ? Self.columns(price: request.price, user: request.user, feature: request.feature, session: request.session,
                           experiment: request.experiment, plan: plan)
            : ""
        let field = keys.outcomeField(organization: organization, id: request.requestID)
        var arguments: [any RedisArgument] = [
            field, keys.holdMember(organization: organization, id: request.requestID), keys.holdField(id: request.requestID),
            request.kind.rawValue, request.requestID, organization, request.format?.rawValue ?? "", columns,
        ]
        arguments += levels.map { ($0.scope == .user && $0.id.isEmpty ? "" : $0.field) as any RedisArgument }
        arguments.append(sealed(numbers, settings: settings))
        return command(scripts.settle, keys: [
            keys.state(organization: organization), keys.holds(organization: organization), keys.ledger(organization: organization),
            keys.request(organization: organization, id: request.requestID),
        ] + slices(organization: organization, field: field, clientSlice: slice, settings: settings), arguments)
    }

    // MARK: Release and expiry

    public enum ReleaseMode: String, Sendable { case release, expire }

    public func release(requestID: String, organization: String, timezoneOffsetMillis: Int64, mode: ReleaseMode = .release, settings: Settings) async throws(EngineError) -> ReleaseOutcome {
        let slice = clientSlice(settings)
        let numbers = commonNumbers(timezoneOffsetMillis: timezoneOffsetMillis, settings: settings, clientSlice: slice)
        let field = keys.outcomeField(organization: organization, id: requestID)
        let reply = try await run(command(scripts.release, keys: [
            keys.state(organization: organization), keys.holds(organization: organization), keys.request(organization: organization, id: requestID),
        ] + slices(organization: organization, field: field, clientSlice: slice, settings: settings), [
            field, keys.holdMember(organization: organization, id: requestID), keys.holdField(id: requestID), mode.rawValue, sealed(numbers, settings: settings),
        ]))
        return try decodeRelease(reply, settings: settings)
    }

    // MARK: Quota

    public func quota(plan: RequestPlan, settings: Settings) async throws(EngineError) -> QuotaSnapshot {
        try await quota(organization: plan.organization.id, levels: plan.levels, timezone: plan.timezone, settings: settings)
    }

    /// Any levels of one organisation (for the CLI's `status` and `budget show`).
    public func quota(organization: String, levels: [LevelPlan], timezone: TimeZone, settings: Settings) async throws(EngineError) -> QuotaSnapshot {
        let numbers = commonNumbers(timezoneOffsetMillis: Int64(timezone.secondsFromGMT()) * 1_000, settings: settings)
        var arguments = levels.map { $0.field as any RedisArgument }
        arguments.append(sealed(numbers, settings: settings))
        let reply = try await run(command(scripts.quota, keys: [keys.state(organization: organization)], arguments))
        return try decodeQuota(reply, levels: levels, timezone: timezone, settings: settings)
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
                if let user = LevelPlan.user(ofField: field) { users.append(user) }
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
        let numbers = commonNumbers(timezoneOffsetMillis: Int64(timezone.secondsFromGMT()) * 1_000, settings: settings)
        let reply = try await run(command(scripts.adjust, keys: [keys.state(organization: organization)], [
            level.field, period.rawValue, amount == nil ? "reset" : "credit", String(amount?.nanos ?? 0), sealed(numbers, settings: settings),
        ]))
        var reader = try ReplyReader(reply, script: "adjust")
        let before = try reader.int(), after = try reader.int()
        try reader.end()
        return (Money(nanos: before, currency: settings.currency), Money(nanos: after, currency: settings.currency))
    }

    // MARK: Plumbing

    /// One call of a batch script (``QuotaScripts/settleBatch``, ``QuotaScripts/reserveBatch``)
    /// that runs `commands`, single calls of its script whose keys share one slot, in order:
    /// its reply is theirs, in an array (an error reply for a request that failed).
    public static func batchCommand(_ script: RedisScript, _ commands: [RedisCommand]) -> RedisCommand {
        var keys: [any RedisArgument] = []
        var arguments: [any RedisArgument] = [commands.count]
        for command in commands {
            // FCALL function numkeys key... argument...
            let keyCount = command.keyCount ?? 0
            let parts = command.arguments(3..<command.argumentCount)
            keys += parts[..<keyCount].map { $0 as any RedisArgument }
            arguments += [keyCount, parts.count - keyCount]
            arguments += parts[keyCount...].map { $0 as any RedisArgument }
        }
        return .evalsha(script, keys: keys, arguments: arguments)
    }

    private func command(_ script: RedisScript, keys: [String], _ arguments: [any RedisArgument]) -> RedisCommand {
        assert(KeyLayout.sameSlot(keys), "keys of one script must share a slot: \(keys)")
        return .evalsha(script, keys: keys, arguments: arguments)
    }

    /// `command` through the coalescer, in a batch of `batch` with other calls of the
    /// organisation's partition when one is in flight; on its own without a coalescer.
    private func run(_ command: RedisCommand, batch: RedisScript?, organization: String, settings: Settings) async throws(EngineError) -> RedisReply {
        guard let coalescer, let batch, let function = batch.function else { return try await run(command) }
        let lane = CallCoalescer.Lane(function: function, prefix: keys.prefix, partition: keys.partition(of: organization), clockOffsetMillis: clockOffsetMillis,
                                      bucketMilliseconds: settings.bucketMilliseconds, buckets: settings.bucketsPerWindow,
                                      stateLayout: settings.stateLayout.rawValue)
        switch await coalescer.send(command, lane: lane, batch: batch) {
        case .success(let reply): return reply
        case .failure(let error): throw .from(error)
        }
    }

    private func run(_ command: RedisCommand) async throws(EngineError) -> RedisReply {
        do {
            return try await redis.send(command)
        } catch {
            throw .from(error)
        }
    }

    /// The attribution columns (``AttributionColumn``) tab-separated, with tabs and line breaks
    /// in values replaced by spaces.
    static func columns(price: ResolvedPrice?, user: String?, feature: String?, session: String?, experiment: String?, plan: RequestPlan) -> String {
        AttributionColumn.allCases.map { column -> String? in
            switch column {
            case .model: price?.model
            case .provider: price?.provider
            case .priceVersion: price?.versionID
            case .user: user
            case .feature: feature
            case .session: session
            case .tier: plan.tier.name
            case .key: plan.key.id
            case .workspace: plan.workspace.id
            case .experiment: experiment
            }
        }
        .map { value in String((value ?? "").map { $0 == "\t" || $0 == "\n" || $0 == "\r" ? " " : $0 }) }
        .joined(separator: "\t")
    }

    /// The numbers every script's argument starts with (``ScriptContract/Common``).
    func commonNumbers(timezoneOffsetMillis: Int64, settings: Settings, clientSlice: Int64? = nil) -> PackedNumbers {
        var numbers = PackedNumbers()
        let clientSlice = clientSlice ?? self.clientSlice(settings)
        numbers.append(ScriptContract.Common.self) { slot in
            switch slot {
            case .clockOffset: clockOffsetMillis
            case .timezoneOffset: timezoneOffsetMillis
            case .bucketMs: Int64(settings.bucketMilliseconds)
            case .buckets: Int64(settings.bucketsPerWindow)
            case .retentionMs: settings.idempotencyMilliseconds
            case .clientSlice: clientSlice
            }
        }
        return numbers
    }

    /// The packed numbers with the ``ScriptContract/Trailer`` slots after them: what a script takes.
    func sealed(_ numbers: PackedNumbers, settings: Settings) -> [UInt8] {
        var numbers = numbers
        numbers.append(ScriptContract.Trailer.self) { slot in
            switch slot {
            case .stateLayout: Int64(settings.stateLayout.rawValue)
            }
        }
        return numbers.bytes
    }

    /// The idempotency slice the caller's clock is in (the scripts go by Redis' clock and take
    /// the keys of the slices around it).
    func clientSlice(_ settings: Settings) -> Int64 {
        (Int64(Date().timeIntervalSince1970 * 1_000) + clockOffsetMillis) / settings.idempotencyMilliseconds
    }

    /// The idempotency hashes of a request around `clientSlice` (see ``KeyLayout/idempotencySlices``).
    func slices(organization: String, field: [UInt8], clientSlice: Int64, settings: Settings) -> [String] {
        keys.idempotencySlices(organization: organization, field: field, clientSlice: clientSlice, buckets: settings.idempotencyBuckets)
    }
}
