import Foundation
import HTTPTypes
import TollgateCore
import TollgateGateway

/// `/v1/service-tokens`: the bearer tokens app servers present to gateways. The secret is in
/// the create answer only; only its SHA-256 is stored, and no answer ever carries the hash.
extension AdminAPI {
    /// A service token as the API shows it (never its hash).
    struct ServiceTokenView: Encodable {
        var id: String
        var name: String
        var organizations: [String]?
        var createdAt: String
        var revoked: Bool
        /// Only in the create answer.
        var secret: String?

        init(_ token: ServiceToken, secret: String? = nil) {
            id = token.id
            name = token.name
            organizations = token.organizations
            createdAt = Timestamp.format(token.createdAt)
            revoked = token.revoked
            self.secret = secret
        }

        enum CodingKeys: String, CodingKey {
            case id, name, organizations
            case createdAt = "created_at"
            case revoked, secret
        }
    }

    var serviceTokenRoutes: [AdminRoute] {
        [
            AdminRoute(method: .get, path: "/v1/service-tokens", scope: .readOnly) { call in
                try Self.allowQuery(call, ["limit", "cursor"])
                let page = try Page(query: call.query, configuration: self.configuration)
                let tokens = try await self.customerStore.tokens(after: page.after, limit: page.limit)
                return try AdminReply(PageReply(data: tokens.items.map { ServiceTokenView($0) }, nextCursor: tokens.next))
            },
            AdminRoute(method: .post, path: "/v1/service-tokens", scope: .provisioner) { call in
                let body = call.body
                try body.allowOnly(["name", "organizations", "reason"])
                let name = try Self.customerName(body) ?? { throw APIError.invalid("name", "name is required") }()
                let organizations = try body.strings("organizations", maximumCount: 1_000, maximumLength: Identifier.maximumLength)
                for organization in organizations ?? [] where !Identifier.isValid(organization) {
                    throw APIError.invalid("organizations", "organizations must be ids of 1-64 letters, digits, '.', '_' or '-'")
                }
                let secret = "tg_" + Secret.random(length: 40)
                let token = ServiceToken(id: "tok_" + Secret.random(length: 12), name: name, sha256: Secret.sha256Hex(secret),
                                         organizations: organizations, createdAt: try await self.now())
                let created = try await self.customers { try await self.customerStore.createToken(token, actor: call.token.actor, reason: try body.reason()) }
                return try AdminReply(status: .created, ServiceTokenView(created, secret: secret))
            },
            AdminRoute(method: .get, path: "/v1/service-tokens/{id}", scope: .readOnly) { call in
                guard let token = try await self.customerStore.token(call.parameter("id")) else {
                    throw APIError.notFound("unknown service token '\(call.parameter("id"))'")
                }
                return try AdminReply(ServiceTokenView(token))
            },
            AdminRoute(method: .post, path: "/v1/service-tokens/{id}/revoke", scope: .provisioner) { call in
                try call.body.allowOnly(["reason"])
                let token = try await self.customers {
                    try await self.customerStore.updateToken(call.parameter("id"), actor: call.token.actor, reason: try call.body.reason(),
                                                             action: "token revoke \(call.parameter("id"))") { $0.revoked = true }
                }
                return try AdminReply(ServiceTokenView(token))
            },
            AdminRoute(method: .delete, path: "/v1/service-tokens/{id}", scope: .provisioner) { call in
                try await self.customers { try await self.customerStore.deleteToken(call.parameter("id"), actor: call.token.actor) }
                return try AdminReply(["deleted": call.parameter("id")])
            },
        ]
    }
}
