import HTTPTypes
import Foundation
import TollgateCore
import TollgateGateway

/// `/v1/tiers`: named bundles of limits and behaviour. Reading needs read-only, changing needs admin.
extension AdminAPI {
    var tierRoutes: [AdminRoute] {
        [
            AdminRoute(method: .get, path: "/v1/tiers", scope: .readOnly) { call in
                let page = try Page(query: call.query, configuration: self.configuration)
                try Self.allowQuery(call, ["limit", "cursor"])
                let slice = page.slice(Array(try await self.load().tiers.values), id: \.name)
                return try AdminReply(PageReply(data: slice.items, nextCursor: slice.next))
            },
            AdminRoute(method: .post, path: "/v1/tiers", scope: .admin) { call in
                try call.body.allowOnly(Self.tierFields.union(["name"]))
                let name = try call.body.identifier("name", required: true)!
                return try await self.setTier(call, name: name, presence: .new, action: "tier create")
            },
            AdminRoute(method: .get, path: "/v1/tiers/{name}", scope: .readOnly) { call in
                guard let tier = try await self.load().tiers[call.parameter("name")] else { throw APIError.notFound("unknown tier '\(call.parameter("name").prefix(64))'") }
                return try AdminReply(tier)
            },
            AdminRoute(method: .patch, path: "/v1/tiers/{name}", scope: .admin) { call in
                try call.body.allowOnly(Self.tierFields)
                return try await self.setTier(call, name: call.parameter("name"), presence: .existing, action: "tier set")
            },
            AdminRoute(method: .delete, path: "/v1/tiers/{name}", scope: .admin) { call in
                let name = call.parameter("name")
                try await self.change(call, "tier rm \(name)", reason: "") { configuration in try configuration.removeTier(name) }
                return try AdminReply(["deleted": name])
            },
        ]
    }

    static let tierFields: Set<String> = [
        "limits", "user_caps", "allowed_models", "default_output_tokens", "hold_seconds", "alert_thresholds",
        "tpm_saturation_minutes", "cache_hit_alert_percent", "cache_hit_alert_minimum_requests", "failure_mode", "timezone",
        "fallback_price", "reason",
    ]
    static let limitFields: Set<String> = ["tpm", "rpm", "daily_budget", "monthly_budget", "daily_tokens", "monthly_tokens"]

    private func setTier(_ call: AdminCall, name: String, presence: TollgateConfiguration.Presence, action: String) async throws -> AdminReply {
        let reason = try call.body.reason()
        var stored: Tier?
        try await change(call, "\(action) \(name)", reason: reason) { configuration in
            let change = try Self.tierChange(call.body, currency: configuration.settings.currency)
            let values = try configuration.setTier(name, change, presence: presence)
            stored = configuration.tiers[name]
            return values
        }
        guard let stored else { throw APIError.notFound("unknown tier '\(name.prefix(64))'") }
        return try AdminReply(status: presence == .new ? .created : .ok, stored)
    }

    /// A tier body as a change: absent fields stay, `null` removes an optional one.
    static func tierChange(_ body: AdminBody, currency: Currency) throws(APIError) -> TierChange {
        var change = TierChange()
        if let limits = try body.object("limits") { change.limits = try limitsChange(limits, currency: currency) }
        if let caps = try body.object("user_caps", nullable: true) {
            try caps.allowOnly(["tpm", "daily_spend"])
            change.userTPM = try caps.countEdit("tpm")
            change.userDailySpend = try caps.moneyEdit("daily_spend", currency: currency)
        } else if body.isNull("user_caps") {
            change.userTPM = .remove
            change.userDailySpend = .remove
        }
        if body.isNull("allowed_models") {
            change.allowedModels = .remove
        } else if let models = try body.strings("allowed_models") {
            change.allowedModels = .set(models)
        }
        change.defaultOutputTokens = try body.integer("default_output_tokens", in: 1...1_000_000)
        change.holdSeconds = try body.integer("hold_seconds", in: 1...86_400).map(Int.init)
        if body.has("alert_thresholds") {
            guard case .array(let items) = body.object["alert_thresholds"]!, items.count <= 20 else {
                throw .invalid("alert_thresholds", "alert_thresholds must be a list of at most 20 percentages")
            }
            change.alertThresholds = try items.map { item throws(APIError) in
                guard case .number = item, let value = item.integerValue, (1...1_000).contains(value) else {
                    throw .invalid("alert_thresholds", "alert_thresholds must be percentages between 1 and 1000")
                }
                return Int(value)
            }
        }
        change.tpmSaturationMinutes = try body.integer("tpm_saturation_minutes", in: 1...1_440).map(Int.init)
        if body.isNull("cache_hit_alert_percent") {
            change.cacheHitAlertPercent = .remove
        } else if let percent = try body.integer("cache_hit_alert_percent", in: 1...100) {
            change.cacheHitAlertPercent = .set(Int(percent))
        }
        change.cacheHitAlertMinimumRequests = try body.integer("cache_hit_alert_minimum_requests", in: 1...1_000_000_000).map(Int.init)
        if let mode = try body.string("failure_mode") {
            guard let failureMode = FailureMode(rawValue: mode) else { throw .invalid("failure_mode", "failure_mode must be open or closed") }
            change.failureMode = failureMode
        }
        if let timezone = try body.string("timezone", maximumLength: 64) {
            guard AdminFormat.timezones.contains(timezone) else { throw .invalid("timezone", "timezone '\(timezone)' is not an IANA timezone") }
            change.timezone = timezone
        }
        if body.isNull("fallback_price") {
            change.fallbackPrice = .remove
        } else if let price = try body.object("fallback_price") {
            change.fallbackPrice = .set(try prices(price))
        }
        return change
    }

    static func limitsChange(_ body: AdminBody, currency: Currency) throws(APIError) -> LimitsChange {
        try body.allowOnly(limitFields)
        var change = LimitsChange()
        change.tpm = try body.countEdit("tpm")
        change.rpm = try body.countEdit("rpm")
        change.dailyBudget = try body.moneyEdit("daily_budget", currency: currency)
        change.monthlyBudget = try body.moneyEdit("monthly_budget", currency: currency)
        change.dailyTokens = try body.countEdit("daily_tokens")
        change.monthlyTokens = try body.countEdit("monthly_tokens")
        return change
    }

    /// Per-1M prices: `input` and `output` required, the others optional, each a decimal string.
    static func prices(_ body: AdminBody, extra: Set<String> = []) throws(APIError) -> TokenPrices {
        try body.allowOnly(Set(["input", "output", "cached_input", "cache_write", "reasoning"]).union(extra))
        func price(_ name: String) throws(APIError) -> String? {
            try body.formatted(name, AdminFormat.price, "a decimal string per 1M tokens below 10000, such as \"2.50\"")
        }
        guard let input = try price("input") else { throw .invalid(body.path + "input", "\(body.path)input is required") }
        guard let output = try price("output") else { throw .invalid(body.path + "output", "\(body.path)output is required") }
        do {
            return try TokenPrices(input: input, output: output, cachedInput: try price("cached_input"), cacheWrite: try price("cache_write"),
                                   reasoning: try price("reasoning"))
        } catch let error as APIError {
            throw error
        } catch {
            throw .invalid(body.path + "input", "\(error)")
        }
    }

    /// Refuses query parameters a route does not take.
    static func allowQuery(_ call: AdminCall, _ known: Set<String>) throws(APIError) {
        if let unknown = call.query.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalid(unknown, "unknown query parameter '\(unknown.prefix(64))'")
        }
    }
}
