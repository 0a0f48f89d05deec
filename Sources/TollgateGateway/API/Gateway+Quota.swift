import Foundation
import HTTPTypes
import Hummingbird
import TollgateCore

/// `GET /v1/quota/{api_key}` answer: every level's window and budgets.
struct QuotaBody: Encodable {
    struct Window: Encodable {
        var limit: Int64?
        var used: Int64?
        var remaining: Int64?
        var resetSeconds: Int64

        enum CodingKeys: String, CodingKey {
            case limit, used, remaining
            case resetSeconds = "reset_seconds"
        }
    }

    struct Budget: Encodable {
        var limit: String?
        var spent: String
        var held: String
        var remaining: String?
        var resetsAt: String

        enum CodingKeys: String, CodingKey {
            case limit, spent, held, remaining
            case resetsAt = "resets_at"
        }
    }

    struct TokenBudget: Encodable {
        var limit: Int64?
        var used: Int64
        var remaining: Int64?
        var resetsAt: String

        enum CodingKeys: String, CodingKey {
            case limit, used, remaining
            case resetsAt = "resets_at"
        }
    }

    struct Level: Encodable {
        var scope: String
        var id: String
        var tpm: Window
        var rpm: Window
        var dailyBudget: Budget
        var monthlyBudget: Budget
        var dailyTokens: TokenBudget
        var monthlyTokens: TokenBudget

        enum CodingKeys: String, CodingKey {
            case scope, id, tpm, rpm
            case dailyBudget = "daily_budget"
            case monthlyBudget = "monthly_budget"
            case dailyTokens = "daily_tokens"
            case monthlyTokens = "monthly_tokens"
        }
    }

    var apiKey: String
    var organization: String
    var workspace: String
    var tier: String
    var currency: String
    var timezone: String
    var asOf: String
    var levels: [Level]

    enum CodingKeys: String, CodingKey {
        case organization, workspace, tier, currency, timezone, levels
        case apiKey = "api_key"
        case asOf = "as_of"
    }
}

extension Gateway {
    func quota(_ request: Request, apiKey: String) async throws -> Response {
        guard let snapshot = watcher.snapshot else { throw APIError.notReady }
        guard let token = try await authenticate(request.headers, snapshot: snapshot) else { throw APIError.unauthorized }
        guard Identifier.isValid(apiKey) else { throw APIError.invalid("api_key", "api_key must be 1-64 letters, digits, '.', '_' or '-'") }
        let user = try RequestFields.attribution("user", request.uri.queryParameters.get("user"))
        let plan = try await plan(snapshot, token: token, apiKey: apiKey, user: user, at: self.now)
        let settings = snapshot.configuration.settings
        guard let quota = try await throughBreaker(route: "quota", { try await engine(for: snapshot).quota(plan: plan, settings: settings) }) else {
            throw APIError(.serviceUnavailable, "redis_unavailable", "quota state is unreachable; retry shortly", headers: [.retryAfter: "1"])
        }
        let currency = settings.currency
        func seconds(_ duration: Duration) -> Int64 { RateLimitHeaders.wholeSeconds(duration) }
        func budget(_ limit: Money?, spent: Money, held: Money, resetsAt: Int64) -> QuotaBody.Budget {
            QuotaBody.Budget(limit: limit?.decimalString, spent: spent.decimalString, held: held.decimalString,
                             remaining: limit.map { Money(nanos: max(0, $0.nanos - spent.nanos - held.nanos), currency: currency).decimalString },
                             resetsAt: Timestamp.format(resetsAt))
        }
        let levels = quota.levels.map { usage -> QuotaBody.Level in
            let limits = usage.level.limits
            let tracked = usage.windowTracked
            return QuotaBody.Level(
                scope: usage.level.scope.rawValue, id: usage.level.id,
                tpm: QuotaBody.Window(limit: limits.tpm, used: tracked ? usage.windowTokens : nil,
                                      remaining: limits.tpm.map { max(0, $0 - usage.windowTokens) }, resetSeconds: seconds(usage.windowReset)),
                rpm: QuotaBody.Window(limit: limits.rpm, used: tracked ? usage.windowRequests : nil,
                                      remaining: limits.rpm.map { max(0, $0 - usage.windowRequests) }, resetSeconds: seconds(usage.windowReset)),
                dailyBudget: budget(limits.dailyBudget, spent: usage.daySpent, held: usage.dayHeld, resetsAt: quota.dayResetsAt),
                monthlyBudget: budget(limits.monthlyBudget, spent: usage.monthSpent, held: usage.monthHeld, resetsAt: quota.monthResetsAt),
                dailyTokens: QuotaBody.TokenBudget(limit: limits.dailyTokens, used: usage.dayTokens,
                                                   remaining: limits.dailyTokens.map { max(0, $0 - usage.dayTokens) }, resetsAt: Timestamp.format(quota.dayResetsAt)),
                monthlyTokens: QuotaBody.TokenBudget(limit: limits.monthlyTokens, used: usage.monthTokens,
                                                     remaining: limits.monthlyTokens.map { max(0, $0 - usage.monthTokens) }, resetsAt: Timestamp.format(quota.monthResetsAt)))
        }
        return JSONResponse.make(QuotaBody(apiKey: apiKey, organization: plan.organization.id, workspace: plan.workspace.id, tier: plan.tier.name,
                                           currency: currency.code, timezone: plan.timezone.identifier, asOf: Timestamp.format(quota.now), levels: levels))
    }
}
