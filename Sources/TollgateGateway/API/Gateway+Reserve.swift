import CoreMetrics
import Logging
import Foundation
import HTTPTypes
import Hummingbird
import TollgateCore

/// `POST /v1/reserve` bodies.
struct ReserveAllowedBody: Encodable {
    let allowed = true
    var requestID: String
    var model: String
    var reservedTokens: Int64
    var estimatedCost: String
    var currency: String
    var priceVersion: String
    var holdExpiresAt: String?
    var reservedAt: String?
    var duplicate: Bool
    var degraded: Bool

    enum CodingKeys: String, CodingKey {
        case allowed, model, currency, duplicate, degraded
        case requestID = "request_id"
        case reservedTokens = "reserved_tokens"
        case estimatedCost = "estimated_cost"
        case priceVersion = "price_version"
        case holdExpiresAt = "hold_expires_at"
        case reservedAt = "reserved_at"
    }
}

struct ReserveLimitedBody: Encodable {
    let allowed = false
    var requestID: String
    var reason: String
    var scope: String
    var limit: String
    var retryAfterSeconds: Int64?
    var message: String

    enum CodingKeys: String, CodingKey {
        case allowed, reason, scope, limit, message
        case requestID = "request_id"
        case retryAfterSeconds = "retry_after_seconds"
    }
}

/// What the engine (or, with Redis unreachable, the tier's failure mode) decided for a
/// reservation. The JSON route and proxy mode both come through ``Gateway/admit``.
enum Admission: Sendable {
    case allowed(Hold, RateLimitStatus)
    case duplicate(Hold)
    case limited(LimitRefusal, RateLimitStatus, retryAfterSeconds: Int64?)
    /// Redis unreachable and the tier fails open: no hold exists; `estimate` tokens costing
    /// `cost` were let through unchecked.
    case degraded(estimate: TokenUsage, cost: Money)
}

extension Gateway {
    func reserve(_ request: Request) async throws -> Response {
        let (snapshot, token, fields) = try await prelude(request, limit: configuration.promptBodyLimit)
        let requestID = try fields.requestID()
        let apiKey = try fields.apiKey()
        guard let model = try fields.model() else { throw APIError.invalid("model", "model is required") }
        let inputTokens = try await inputEstimate(fields, model: model, snapshot: snapshot)
        let maxOutputTokens = try fields.count("max_output_tokens")
        let user = try fields.attribution("user")
        let feature = try fields.attribution("feature")
        let session = try fields.attribution("session")
        let experiment = try fields.attribution("experiment")
        let now = self.now
        let plan = try await plan(snapshot, token: token, apiKey: apiKey, user: user, at: now)
        let price = try price(model, snapshot, plan, at: now)
        let settings = snapshot.configuration.settings
        let reserveRequest = ReserveRequest(requestID: requestID, model: model, inputTokens: inputTokens, maxOutputTokens: maxOutputTokens,
                                            user: user, feature: feature, session: session, experiment: experiment)
        func held(_ hold: Hold, duplicate: Bool) -> ReserveAllowedBody {
            ReserveAllowedBody(requestID: requestID, model: price.model, reservedTokens: hold.estimatedTokens, estimatedCost: hold.estimatedCost.decimalString,
                               currency: settings.currency.code, priceVersion: price.versionID, holdExpiresAt: Timestamp.format(hold.expiresAt),
                               reservedAt: Timestamp.format(hold.reservedAt), duplicate: duplicate, degraded: false)
        }

        switch try await admit(reserveRequest, snapshot: snapshot, plan: plan, price: price) {
        case .allowed(let hold, let status):
            return JSONResponse.make(held(hold, duplicate: false), headers: RateLimitHeaders.fields(status, windowSeconds: settings.windowSeconds))
        case .duplicate(let hold):
            return JSONResponse.make(held(hold, duplicate: true))
        case .limited(let refusal, let status, let retry):
            let message = refusal.reason == .tooLarge
                ? "the request alone exceeds the \(refusal.limit) limit at the \(refusal.scope.rawValue) level; it will never fit"
                : "the \(refusal.limit) limit at the \(refusal.scope.rawValue) level is reached; retry in \(retry ?? 1) s"
            return JSONResponse.make(status: .tooManyRequests, ReserveLimitedBody(
                requestID: requestID, reason: refusal.reason.rawValue, scope: refusal.scope.rawValue, limit: refusal.limit,
                retryAfterSeconds: retry, message: message), headers: refusalHeaders(status, retryAfterSeconds: retry, settings: settings))
        case .degraded(let estimate, let cost):
            return JSONResponse.make(ReserveAllowedBody(
                requestID: requestID, model: price.model, reservedTokens: estimate.total, estimatedCost: cost.decimalString,
                currency: settings.currency.code, priceVersion: price.versionID, holdExpiresAt: nil, reservedAt: nil, duplicate: false, degraded: true),
                headers: [RateLimitHeaders.degraded: "true"])
        }
    }

    /// The rate-limit headers of a 429: the limits' state and a `Retry-After` on every one
    /// (a request that can never fit gets the window length).
    func refusalHeaders(_ status: RateLimitStatus, retryAfterSeconds retry: Int64?, settings: Settings) -> HTTPFields {
        var headers = RateLimitHeaders.fields(status, windowSeconds: settings.windowSeconds)
        headers[.retryAfter] = String(retry ?? RateLimitHeaders.retryAfterSeconds(.seconds(Int64(settings.windowSeconds))))
        return headers
    }

    /// One reservation through the engine, the circuit breaker and the tier's failure mode,
    /// with its metrics and events. Throws the API's errors (409 for a used request id, 503
    /// when Redis is unreachable and the tier fails closed).
    func admit(_ reserveRequest: ReserveRequest, snapshot: GatewaySnapshot, plan: RequestPlan, price: ResolvedPrice) async throws -> Admission {
        let settings = snapshot.configuration.settings
        guard let decision = try await throughBreaker(route: "reserve", {
            try await engine(for: snapshot).reserve(reserveRequest, plan: plan, price: price, settings: settings)
        }) else { return try degraded(reserveRequest, plan: plan, price: price, settings: settings) }

        let tier = plan.tier.name
        switch decision {
        case .allowed(let hold, let status):
            metrics.decision(result: "allowed", tier: tier)
            metrics.holdsCreated.increment()
            return .allowed(hold, status)
        case .alreadyHeld(let hold):
            metrics.decision(result: "allowed", reason: "duplicate", tier: tier)
            return .duplicate(hold)
        case .alreadyUsed(let state):
            throw APIError(.conflict, "request_id_used", "request_id '\(reserveRequest.requestID)' was already \(state)", field: "request_id")
        case .limited(let refusal, let status):
            metrics.limited(refusal, tier: tier)
            refusals.count(organization: plan.organization.id, reason: refusal.reason.rawValue, at: self.now, timezone: plan.timezone,
                           keys: KeyLayout(prefix: keyPrefix, partitions: settings.partitions))
            events.publish([("type", "limited"), ("node", configuration.nodeName), ("organization", plan.organization.id),
                            ("workspace", plan.workspace.id), ("key", plan.key.id), ("reason", refusal.reason.rawValue),
                            ("limit", refusal.limit), ("scope", refusal.scope.rawValue), ("tier", tier)], at: self.now)
            return .limited(refusal, status, retryAfterSeconds: refusal.retryAfter.map(RateLimitHeaders.retryAfterSeconds))
        }
    }

    /// Redis cannot decide (unreachable, or refusing work): the tier's failure mode decides.
    private func degraded(_ request: ReserveRequest, plan: RequestPlan, price: ResolvedPrice, settings: Settings) throws -> Admission {
        switch plan.tier.failureMode {
        case .closed:
            metrics.decision(result: "unavailable", tier: plan.tier.name)
            throw APIError(.serviceUnavailable, "redis_unavailable", "quota state is unreachable and this tier fails closed; retry shortly",
                           headers: [.retryAfter: "1"])
        case .open:
            metrics.decision(result: "degraded", tier: plan.tier.name)
            events.publish([("type", "degraded"), ("node", configuration.nodeName), ("organization", plan.organization.id),
                            ("key", plan.key.id), ("tier", plan.tier.name)], at: self.now)
            logger.warning("reservation allowed without a quota check (fail open)", metadata: [
                "quota.decision": "degraded", "quota.tier": "\(plan.tier.name)", "quota.organization": "\(plan.organization.id)",
            ])
            let estimate = TokenUsage(input: request.inputTokens, output: request.maxOutputTokens ?? plan.tier.defaultOutputTokens)
            return .degraded(estimate: estimate, cost: Money(nanos: price.prices.estimatedCost(input: estimate.input, output: estimate.output),
                                                             currency: settings.currency))
        }
    }
}
