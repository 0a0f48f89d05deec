import HTTPTypes
import TollgateCore
import TollgateGateway

/// `/v1/prices`: the pricing table, versioned by effective time. Reading needs read-only,
/// changing needs admin.
extension AdminAPI {
    var priceRoutes: [AdminRoute] {
        [
            AdminRoute(method: .get, path: "/v1/prices", scope: .readOnly) { call in
                try Self.allowQuery(call, ["limit", "cursor", "provider"])
                let page = try Page(query: call.query, configuration: self.configuration, ids: AdminFormat.model)
                let provider = call.query["provider"]
                if let provider, !AdminFormat.matches(provider, AdminFormat.identifier) {
                    throw APIError.invalid("provider", "provider must be 1-64 letters, digits, '.', '_' or '-'")
                }
                let models = try await self.load().pricing.sorted.filter { provider == nil || $0.provider == provider }
                let slice = page.slice(models, id: \.model)
                return try AdminReply(PageReply(data: slice.items, nextCursor: slice.next))
            },
            AdminRoute(method: .post, path: "/v1/prices", scope: .admin) { call in
                let body = call.body
                let fields: Set<String> = ["model", "provider", "tokenizer", "aliases", "effective_from", "reason"]
                let prices = try Self.prices(body, extra: fields)
                guard let model = try body.formatted("model", AdminFormat.model, "1-128 visible ASCII characters") else {
                    throw APIError.invalid("model", "model is required")
                }
                let provider = try body.identifier("provider", required: true)!
                return try await self.setPrice(call, model: model, provider: provider, prices: prices, presence: .new)
            },
            AdminRoute(method: .get, path: "/v1/prices/{model}", scope: .readOnly) { call in
                guard let entry = try await self.load().pricing.entry(named: call.parameter("model")) else {
                    throw APIError.notFound("unknown model '\(call.parameter("model").prefix(128))'")
                }
                return try AdminReply(entry)
            },
            AdminRoute(method: .post, path: "/v1/prices/{model}/versions", scope: .admin) { call in
                let prices = try Self.prices(call.body, extra: ["effective_from", "reason"])
                return try await self.setPrice(call, model: call.parameter("model"), provider: nil, prices: prices, presence: .existing)
            },
            AdminRoute(method: .post, path: "/v1/prices/{model}/retire", scope: .admin) { call in
                try call.body.allowOnly(["effective_from", "reason"])
                let model = call.parameter("model")
                let from = try call.body.time("effective_from", now: try await self.now())
                var stored: ModelPricing?
                try await self.change(call, "price retire \(model)", reason: try call.body.reason()) { configuration in
                    let values = try configuration.retirePrice(model, effectiveFrom: from)
                    stored = configuration.pricing.entry(named: model)
                    return values
                }
                return try AdminReply(stored)
            },
        ]
    }

    private func setPrice(_ call: AdminCall, model: String, provider: String?, prices: TokenPrices,
                          presence: TollgateConfiguration.Presence) async throws -> AdminReply {
        let body = call.body
        let tokenizer: TokenizerChoice?
        do {
            tokenizer = try (try body.formatted("tokenizer", AdminFormat.tokenizer, "o200k_base, cl100k_base or estimate:FACTOR (0.5 to 4, e.g. estimate:1.25)"))
                .map { text throws(PricingError) in try TokenizerChoice(parsing: text) }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.invalid("tokenizer", "\(error)")
        }
        let aliases = try body.strings("aliases", maximumCount: 50) ?? []
        for alias in aliases where !AdminFormat.matches(alias, AdminFormat.model) { throw APIError.invalid("aliases", "aliases must be 1-128 visible ASCII characters") }
        let change = PriceChange(model: model, provider: provider, prices: prices, tokenizer: tokenizer, aliases: aliases,
                                 effectiveFrom: try body.time("effective_from", now: try await now()))
        var stored: ModelPricing?
        try await self.change(call, "price set \(model)", reason: try body.reason()) { configuration in
            let values = try configuration.setPrice(change, presence: presence)
            stored = configuration.pricing.entry(named: model)
            return values
        }
        return try AdminReply(status: .created, stored)
    }
}
