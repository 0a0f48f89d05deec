import CoreMetrics
import Logging
import Foundation
import HTTPTypes
import Hummingbird
import TollgateCore

struct UsageBody: Encodable {
    var inputTokens: Int64
    var cachedInputTokens: Int64
    var cacheWriteTokens: Int64
    var outputTokens: Int64
    var reasoningTokens: Int64
    var totalTokens: Int64

    init(_ usage: TokenUsage) {
        inputTokens = usage.input
        cachedInputTokens = usage.cachedInput
        cacheWriteTokens = usage.cacheWrite
        outputTokens = usage.output
        reasoningTokens = usage.reasoning
        totalTokens = usage.total
    }

    enum CodingKeys: String, CodingKey {
        case inputTokens = "input_tokens"
        case cachedInputTokens = "cached_input_tokens"
        case cacheWriteTokens = "cache_write_tokens"
        case outputTokens = "output_tokens"
        case reasoningTokens = "reasoning_tokens"
        case totalTokens = "total_tokens"
    }
}

/// `POST /v1/commit` and `/v1/record` answer.
struct SettleBody: Encodable {
    var requestID: String
    var usage: UsageBody
    var usageFormat: String?
    var cost: String
    var currency: String
    var model: String
    var priceVersion: String
    var settledReservation: Bool
    var duplicate: Bool
    var overLimits: [String]

    enum CodingKeys: String, CodingKey {
        case usage, cost, currency, model, duplicate
        case requestID = "request_id"
        case usageFormat = "usage_format"
        case priceVersion = "price_version"
        case settledReservation = "settled_reservation"
        case overLimits = "over_limits"
    }
}

/// 202 answer when Redis is unreachable and the request went to the spool.
struct SpooledBody: Encodable {
    var requestID: String
    let spooled = true
    var message: String

    enum CodingKeys: String, CodingKey {
        case spooled, message
        case requestID = "request_id"
    }
}

struct ReleaseBody: Encodable {
    var requestID: String
    var released: Bool
    var state: String
    var releasedTokens: Int64?
    var releasedCost: String?

    enum CodingKeys: String, CodingKey {
        case released, state
        case requestID = "request_id"
        case releasedTokens = "released_tokens"
        case releasedCost = "released_cost"
    }
}

extension Gateway {
    /// Commit (after a reservation) or record (metering after the fact).
    func settle(_ request: Request, kind: SettleRequest.Kind) async throws -> Response {
        let (snapshot, token, fields) = try await prelude(request)
        let requestID = try fields.requestID()
        let apiKey = try fields.apiKey()
        let model = try fields.model()
        if kind == .record && model == nil { throw APIError.invalid("model", "model is required") }
        var format: UsageFormat?
        if let provider = try fields.string("provider") {
            do {
                format = try UsageFormat.named(provider)
            } catch {
                throw APIError.invalid("provider", error.description)
            }
        }
        guard let usageValue = fields.object["usage"], !usageValue.isNull else { throw APIError.invalid("usage", "usage is required") }
        let usage: TokenUsage
        let detected: UsageFormat
        do {
            (usage, detected) = try ProviderUsage.normalise(usageValue, format: format)
        } catch {
            throw APIError.invalid("usage", error.description)
        }
        let user = try fields.attribution("user")
        let feature = try fields.attribution("feature")
        let session = try fields.attribution("session")
        let experiment = try fields.attribution("experiment")
        let latency = try fields.count("latency_ms", maximum: 86_400_000)
        let cacheHit = try fields.bool("cache_hit")
        let now = self.now
        let plan = try await plan(snapshot, token: token, apiKey: apiKey, user: user, at: now)
        let price = try model.map { model throws in try self.price(model, snapshot, plan, at: now) }
        let settings = snapshot.configuration.settings
        let settle = SettleRequest(kind: kind, requestID: requestID, usage: usage, format: detected, price: price, user: user,
                                   feature: feature, session: session, experiment: experiment, latencyMillis: latency, cacheHit: cacheHit)

        let entry = SpoolEntry(operation: kind == .commit ? .commit : .record, requestID: requestID, apiKey: apiKey, usage: usage, format: detected,
                               model: price?.model, provider: price?.provider, priceVersion: price?.versionID, prices: price?.prices.effective,
                               user: user, feature: feature, session: session, experiment: experiment, latencyMillis: latency, cacheHit: cacheHit, spooledAt: now)
        let settlement: Settlement
        switch try await settleOrSpool(settle, spoolEntry: entry, snapshot: snapshot, plan: plan) {
        case .settled(let done): settlement = done
        case .spooled: return spooledResponse(entry)
        }
        recordEstimateError(settlement, snapshot: snapshot)
        return JSONResponse.make(SettleBody(
            requestID: requestID, usage: UsageBody(settlement.usage), usageFormat: detected.rawValue, cost: settlement.cost.decimalString,
            currency: settings.currency.code, model: settlement.model, priceVersion: settlement.priceVersion,
            settledReservation: settlement.settledHold, duplicate: !settlement.isNew, overLimits: settlement.overLimits))
    }

    func release(_ request: Request) async throws -> Response {
        let (snapshot, token, fields) = try await prelude(request)
        let requestID = try fields.requestID()
        let apiKey = try fields.apiKey()
        let plan = try await plan(snapshot, token: token, apiKey: apiKey, user: nil, at: self.now)
        let entry = SpoolEntry(operation: .release, requestID: requestID, apiKey: apiKey, spooledAt: self.now)
        let outcome: ReleaseOutcome
        switch try await releaseOrSpool(entry, snapshot: snapshot, plan: plan) {
        case .settled(let done): outcome = done
        case .spooled: return spooledResponse(entry)
        }
        switch outcome {
        case .released(let tokens, let cost):
            return JSONResponse.make(ReleaseBody(requestID: requestID, released: true, state: "released", releasedTokens: tokens, releasedCost: cost.decimalString))
        case .alreadyReleased:
            return JSONResponse.make(ReleaseBody(requestID: requestID, released: false, state: "released"))
        case .alreadyExpired, .expired:
            return JSONResponse.make(ReleaseBody(requestID: requestID, released: false, state: "expired"))
        case .alreadyCommitted:
            throw APIError(.conflict, "already_committed", "request_id '\(requestID)' was already committed", field: "request_id")
        case .unknown, .notDue:
            throw APIError(.notFound, "unknown_request", "no reservation for request_id '\(requestID)'", field: "request_id")
        }
    }

    /// What became of a commit, record or release.
    enum SettleStep<Outcome: Sendable>: Sendable {
        case settled(Outcome)
        /// Redis was unreachable: the entry waits in the spool for replay.
        case spooled
    }

    /// One commit or record through the engine and the circuit breaker; with Redis
    /// unreachable it goes to the spool. The JSON routes and proxy mode share it.
    func settleOrSpool(_ settle: SettleRequest, spoolEntry entry: SpoolEntry, snapshot: GatewaySnapshot, plan: RequestPlan) async throws -> SettleStep<Settlement> {
        let answer: Settlement?
        do {
            answer = try await throughBreaker(route: settle.kind.rawValue) {
                try await engine(for: snapshot).settle(settle, plan: plan, settings: snapshot.configuration.settings)
            }
        } catch let error as EngineError where error.kind == .noModel {
            throw APIError(.notFound, "no_reservation", "\(error.message) (send model with every commit to be safe)", field: "model")
        }
        guard let settlement = answer else { return try await spoolOnly(entry) }
        metrics.settlement(settle.kind.rawValue, result: settlement.isNew ? (settlement.settledHold ? "settled" : "counted") : "duplicate")
        return .settled(settlement)
    }

    /// One release through the engine and the circuit breaker, or into the spool.
    func releaseOrSpool(_ entry: SpoolEntry, snapshot: GatewaySnapshot, plan: RequestPlan) async throws -> SettleStep<ReleaseOutcome> {
        guard let outcome = try await throughBreaker(route: "release", {
            try await engine(for: snapshot).release(requestID: entry.requestID, organization: plan.organization.id,
                                                    timezoneOffsetMillis: plan.timezoneOffsetMillis, settings: snapshot.configuration.settings)
        }) else { return try await spoolOnly(entry) }
        metrics.settlement("release", result: "\(outcome)".prefix { $0 != "(" }.description)
        return .settled(outcome)
    }

    /// Keeps the entry in the spool; 503 when even the spool cannot take it.
    private func spoolOnly<Outcome>(_ entry: SpoolEntry) async throws -> SettleStep<Outcome> {
        do {
            try await spool.append(entry)
        } catch {
            logger.error("spool append failed", metadata: ["spool.error": "\(error)", "spool.request_id": "\(entry.requestID)"])
            let reason = (error as? SpoolError)?.code == .full ? "is full" : "cannot be written"
            throw APIError(.serviceUnavailable, "spool_unavailable",
                           "quota state is unreachable and the gateway's spool \(reason), so the \(entry.operation.rawValue) was not kept; retry it shortly",
                           headers: [.retryAfter: "1"])
        }
        metrics.spooled.increment()
        return .spooled
    }

    /// The 202 of a spooled request.
    func spooledResponse(_ entry: SpoolEntry) -> Response {
        JSONResponse.make(status: .accepted, SpooledBody(
            requestID: entry.requestID, message: "quota state is unreachable; the \(entry.operation.rawValue) is kept in the gateway's spool and applied when it returns"))
    }
}
