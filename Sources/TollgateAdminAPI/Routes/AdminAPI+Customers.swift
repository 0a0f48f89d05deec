import HTTPTypes
import TollgateCore
import TollgateGateway

/// What the customer routes share: reading the bodies of organisations, workspaces and keys,
/// and turning the store's refusals into the API's errors.
extension AdminAPI {
    /// Names of organisations, workspaces, keys and tokens: at most 50 characters (the store
    /// takes 200 bytes; 50 characters never exceed it), no control characters.
    static let maximumCustomerNameLength = 50

    static func customerName(_ body: AdminBody) throws(APIError) -> String? {
        try body.string("name", maximumLength: maximumCustomerNameLength)
    }

    /// Limits in a create: each given limit is set (`null` is not a limit).
    static func overrides(_ body: AdminBody, currency: Currency) throws(APIError) -> Limits {
        guard let limits = try body.object("overrides") else { return .none }
        try limits.allowOnly(limitFields)
        func count(_ name: String) throws(APIError) -> Int64? { try limits.integer(name, in: 0...Limits.maximumCount) }
        func money(_ name: String) throws(APIError) -> Money? { try limits.money(name, currency: currency) }
        return Limits(tpm: try count("tpm"), rpm: try count("rpm"), dailyBudget: try money("daily_budget"), monthlyBudget: try money("monthly_budget"),
                      dailyTokens: try count("daily_tokens"), monthlyTokens: try count("monthly_tokens"))
    }

    /// Allowed models of a key: names or `prefix*`.
    static func allowedModels(_ body: AdminBody) throws(APIError) -> [String]? {
        try body.strings("allowed_models", maximumCount: 1_000)
    }

    /// Runs a store call, mapping its refusals: an id taken, a concurrent change, or a tier the
    /// body names that does not exist (the change would leave the configuration inconsistent)
    /// is 409; an unknown entity, or an unknown parent named in a create's body, 404 (the body
    /// is well formed; what it names does not exist); anything else the store refuses, 422.
    /// An unknown tier is not 404: a PATCH naming one would read as "this organisation is gone".
    @discardableResult
    func customers<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as CustomerStoreError {
            switch error.code {
            case .alreadyExists, .conflict: throw APIError(.conflict, "conflict", error.message)
            case .unknownTier: throw APIError(.conflict, "unknown_tier", error.message, field: "tier")
            case .notFound: throw APIError(.notFound, "not_found", error.message)
            default: throw APIError(.unprocessableContent, "invalid_request", error.message)
            }
        }
    }

    /// `page` of a store list as the API's page.
    static func reply<Item: Encodable & Sendable>(_ page: TollgateCore.Page<Item>) throws -> AdminReply {
        try AdminReply(PageReply(data: page.items, nextCursor: page.next))
    }

    /// Suspend and resume routes for `kind` under `path` (`/v1/organizations/{id}`).
    func suspensionRoutes(_ path: String, _ kind: CustomerKind, read: @escaping @Sendable (String) async throws -> (any Encodable & Sendable)?) -> [AdminRoute] {
        [true, false].map { suspended in
            AdminRoute(method: .post, path: path + (suspended ? "/suspend" : "/resume"), scope: .provisioner) { call in
                try call.body.allowOnly(["reason"])
                let id = call.parameter("id")
                try await self.customers { try await self.customerStore.setSuspended(suspended, kind, id, actor: call.token.actor, reason: try call.body.reason()) }
                guard let entity = try await read(id) else { throw APIError.notFound("unknown \(kind.noun) '\(id)'") }
                return try AdminReply(AnyEncodable(entity))
            }
        }
    }
}

/// An existential encodable, encoded as itself.
struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
