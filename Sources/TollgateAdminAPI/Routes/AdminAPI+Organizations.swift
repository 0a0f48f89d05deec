import HTTPTypes
import TollgateCore
import TollgateGateway

/// `/v1/organizations`: tenants. Reading needs read-only; creating, changing, suspending and
/// deleting needs provisioner.
extension AdminAPI {
    var organizationRoutes: [AdminRoute] {
        [
            AdminRoute(method: .get, path: "/v1/organizations", scope: .readOnly) { call in
                try Self.allowQuery(call, ["limit", "cursor"])
                let page = try Page(query: call.query, configuration: self.configuration)
                return try Self.reply(try await self.customerStore.organizations(after: page.after, limit: page.limit))
            },
            AdminRoute(method: .post, path: "/v1/organizations", scope: .provisioner) { call in
                try await self.createOrganization(call)
            },
            AdminRoute(method: .get, path: "/v1/organizations/{id}", scope: .readOnly) { call in
                guard let organization = try await self.customerStore.organization(call.parameter("id")) else {
                    throw APIError.notFound("unknown organization '\(call.parameter("id"))'")
                }
                return try AdminReply(organization)
            },
            AdminRoute(method: .patch, path: "/v1/organizations/{id}", scope: .provisioner) { call in
                let body = call.body
                try body.allowOnly(["name", "tier", "overrides", "reason"])
                let name = try Self.customerName(body)
                let tier = try body.identifier("tier")
                let change = try body.object("overrides").map { overrides throws(APIError) in try Self.limitsChange(overrides, currency: self.customerStore.currency) }
                let organization = try await self.customers {
                    try await self.customerStore.updateOrganization(call.parameter("id"), actor: call.token.actor, reason: try body.reason()) { organization in
                        if let name { organization.name = name }
                        if let tier { organization.tier = tier }
                        if let change { organization.overrides = change.applied(to: organization.overrides) }
                    }
                }
                return try AdminReply(organization)
            },
            AdminRoute(method: .delete, path: "/v1/organizations/{id}", scope: .provisioner) { call in
                try await self.customers { try await self.customerStore.deleteOrganization(call.parameter("id"), actor: call.token.actor) }
                return try AdminReply(["deleted": call.parameter("id")])
            },
        ] + suspensionRoutes("/v1/organizations/{id}", .organization) { try await self.customerStore.organization($0) }
    }

    /// The answer of a create: the organisation, and the workspace and key made with it.
    struct CreatedOrganization: Encodable {
        var organization: Organization
        var workspace: Workspace?
        var key: APIKey?
    }

    /// An organisation, optionally with its first workspace and that workspace's first key, all
    /// or nothing. A key without an id gets a random one (`key_` and 24 letters and digits).
    private func createOrganization(_ call: AdminCall) async throws -> AdminReply {
        let body = call.body
        let currency = customerStore.currency
        try body.allowOnly(["id", "name", "tier", "overrides", "workspace", "key", "reason"])
        let id = try body.identifier("id", required: true)!
        let organization = Organization(id: id, name: try Self.customerName(body), tier: try body.identifier("tier", required: true)!,
                                        overrides: try Self.overrides(body, currency: currency))
        var workspace: Workspace?
        if let fields = try body.object("workspace") {
            try fields.allowOnly(["id", "name", "tier", "overrides"])
            workspace = Workspace(id: try fields.identifier("id", required: true)!, organization: id, name: try Self.customerName(fields),
                                  tier: try fields.identifier("tier"), overrides: try Self.overrides(fields, currency: currency))
        }
        var key: APIKey?
        if let fields = try body.object("key") {
            guard let workspace else { throw APIError.invalid("key", "a key is created in the workspace created with it: give workspace too") }
            try fields.allowOnly(["id", "name", "allowed_models", "overrides"])
            key = APIKey(id: try fields.identifier("id") ?? Self.newKeyID(), workspace: workspace.id, name: try Self.customerName(fields),
                         overrides: try Self.overrides(fields, currency: currency), allowedModels: try Self.allowedModels(fields))
        }
        try await customers {
            try await customerStore.createOrganization(organization, workspace: workspace, key: key, actor: call.token.actor, reason: try body.reason())
        }
        return try AdminReply(status: .created, CreatedOrganization(organization: organization, workspace: workspace, key: key))
    }

    static func newKeyID() -> String { "key_" + Secret.random(length: 24) }
}
