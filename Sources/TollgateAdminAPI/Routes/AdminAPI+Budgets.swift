import HTTPTypes
import TollgateCore
import TollgateGateway

/// `/v1/budgets/credit|reset` (admin): corrections of the current period's spend, audited;
/// `/v1/usage` (read-only): one organisation's day totals from the monitor's roll-ups.
extension AdminAPI {
    var budgetRoutes: [AdminRoute] {
        [
            AdminRoute(method: .post, path: "/v1/budgets/credit", scope: .admin) { call in try await self.correctBudget(call, credit: true) },
            AdminRoute(method: .post, path: "/v1/budgets/reset", scope: .admin) { call in try await self.correctBudget(call, credit: false) },
            AdminRoute(method: .get, path: "/v1/usage", scope: .readOnly) { call in try await self.usage(call) },
        ]
    }

    private func correctBudget(_ call: AdminCall, credit: Bool) async throws -> AdminReply {
        let body = call.body
        try body.allowOnly(Set(["organization", "workspace", "key", "user", "period", "reason"] + (credit ? ["amount"] : [])))
        let configuration = try await load()
        guard let reason = try body.string("reason", maximumLength: 500) else { throw APIError.invalid("reason", "reason is required: it goes to the audit log") }
        guard let period = QuotaEngine.BudgetPeriod(rawValue: try body.string("period", required: true) ?? "") else {
            throw APIError.invalid("period", "period must be day or month")
        }
        var amount: Money?
        if credit {
            guard let money = try body.money("amount", currency: configuration.settings.currency) else { throw APIError.invalid("amount", "amount is required") }
            amount = money
        }
        let correction = BudgetCorrection(organization: try body.identifier("organization", required: true)!, workspace: try body.identifier("workspace"),
                                          key: try body.identifier("key"), user: try body.string("user", maximumLength: 128), period: period, credit: amount)
        return try AdminReply(try await correction.apply(customers: customerStore, configuration: configuration, scripts: scripts,
                                                         actor: call.token.actor, reason: reason))
    }

    /// One group of a usage report: the figures of the roll-ups.
    struct UsageGroup: Encodable {
        var group: String
        var requests: Int64
        var inputTokens: Int64
        var cachedInputTokens: Int64
        var cacheWriteTokens: Int64
        var outputTokens: Int64
        var reasoningTokens: Int64
        var cost: String

        init(_ group: String, _ totals: UsageTotals, currency: Currency) {
            self.group = group
            requests = totals.requests
            inputTokens = totals.usage.input
            cachedInputTokens = totals.usage.cachedInput
            cacheWriteTokens = totals.usage.cacheWrite
            outputTokens = totals.usage.output
            reasoningTokens = totals.usage.reasoning
            cost = Money(nanos: totals.costNanos, currency: currency).decimalString
        }

        enum CodingKeys: String, CodingKey {
            case group, requests
            case inputTokens = "input_tokens"
            case cachedInputTokens = "cached_input_tokens"
            case cacheWriteTokens = "cache_write_tokens"
            case outputTokens = "output_tokens"
            case reasoningTokens = "reasoning_tokens"
            case cost
        }
    }

    struct UsageReply: Encodable {
        var organization: String
        var from: String
        var days: Int
        var by: String
        var data: [UsageGroup]
        var total: UsageGroup
    }

    private func usage(_ call: AdminCall) async throws -> AdminReply {
        try Self.allowQuery(call, ["organization", "from", "days", "by"])
        guard let organization = try Self.identifierQuery(call, "organization") else { throw APIError.invalid("organization", "organization is required") }
        guard let from = call.query["from"], AdminFormat.matches(from, AdminFormat.date), let start = Timestamp.parse(from) else {
            throw APIError.invalid("from", "from must be a date, YYYY-MM-DD")
        }
        let count = try call.query["days"].map { text throws(APIError) in
            guard let count = Int(text), (1...UsageReport.maximumDays).contains(count) else {
                throw APIError.invalid("days", "days must be a whole number between 1 and \(UsageReport.maximumDays)")
            }
            return count
        } ?? 1
        let by = call.query["by"] ?? "day"
        guard UsageReport.dimensions.contains(by) else { throw APIError.invalid("by", "by must be one of \(UsageReport.dimensions.joined(separator: ", "))") }
        let days = UsageReport.labels(from: start, count: count)
        guard try await customerStore.organization(organization) != nil else { throw APIError.notFound("unknown organization '\(organization)'") }
        let configuration = try await load()
        let currency = configuration.settings.currency
        let rows = try await UsageReport.rows(redis: redis, keys: KeyLayout(prefix: store.keys.prefix, partitions: configuration.settings.partitions),
                                              organization: organization, days: days)
        var total = UsageTotals()
        let groups = UsageReport.grouped(rows, by: by).map { name, totals in
            total.add(totals)
            return UsageGroup(name, totals, currency: currency)
        }
        return try AdminReply(UsageReply(organization: organization, from: from, days: count, by: by, data: groups, total: UsageGroup("total", total, currency: currency)))
    }
}
