import HTTPTypes
import TollgateCore
import TollgateGateway

/// `/v1/workspaces` and `/v1/keys`: an organisation's teams or products, and the API keys app
/// servers name in each request. Reading needs read-only; the rest provisioner.
extension AdminAPI {
    var workspaceRoutes: [AdminRoute] {
        [
            AdminRoute(method: .get, path: "/v1/workspaces", scope: .readOnly) { call in
                try Self.allowQuery(call, ["limit", "cursor", "organization"])
                let page = try Page(query: call.query, configuration: self.configuration)
                let organization = try Self.identifierQuery(call, "organization")
                return try Self.reply(try await self.customerStore.workspaces(of: organization, after: page.after, limit: page.limit))
            },
            AdminRoute(method: .post, path: "/v1/workspaces", scope: .provisioner) { call in
                let body = call.body
                try body.allowOnly(["id", "organization", "name", "tier", "overrides", "reason"])
                let workspace = Workspace(id: try body.identifier("id", required: true)!, organization: try body.identifier("organization", required: true)!,
                                          name: try Self.customerName(body), tier: try body.identifier("tier"),
                                          overrides: try Self.overrides(body, currency: self.customerStore.currency))
                let created = try await self.customers { try await self.customerStore.createWorkspace(workspace, actor: call.token.actor, reason: try body.reason()) }
                return try AdminReply(status: .created, created)
            },
            AdminRoute(method: .get, path: "/v1/workspaces/{id}", scope: .readOnly) { call in
                guard let workspace = try await self.customerStore.workspace(call.parameter("id")) else {
                    throw APIError.notFound("unknown workspace '\(call.parameter("id"))'")
                }
                return try AdminReply(workspace)
            },
            AdminRoute(method: .patch, path: "/v1/workspaces/{id}", scope: .provisioner) { call in
                let body = call.body
                try body.allowOnly(["name", "tier", "overrides", "reason"])
                let name = try Self.customerName(body)
                // `null` hands the workspace back to its organisation's tier.
                let tier: FieldEdit<String> = body.isNull("tier") ? .remove : try body.identifier("tier").map { .set($0) } ?? .keep
                let change = try body.object("overrides").map { overrides throws(APIError) in try Self.limitsChange(overrides, currency: self.customerStore.currency) }
                let workspace = try await self.customers {
                    try await self.customerStore.updateWorkspace(call.parameter("id"), actor: call.token.actor, reason: try body.reason()) { workspace in
                        if let name { workspace.name = name }
                        workspace.tier = tier.applied(to: workspace.tier)
                        if let change { workspace.overrides = change.applied(to: workspace.overrides) }
                    }
                }
                return try AdminReply(workspace)
            },
            AdminRoute(method: .delete, path: "/v1/workspaces/{id}", scope: .provisioner) { call in
                try await self.customers { try await self.customerStore.deleteWorkspace(call.parameter("id"), actor: call.token.actor) }
                return try AdminReply(["deleted": call.parameter("id")])
            },
        ] + suspensionRoutes("/v1/workspaces/{id}", .workspace) { try await self.customerStore.workspace($0) }
    }

    var keyRoutes: [AdminRoute] {
        [
            AdminRoute(method: .get, path: "/v1/keys", scope: .readOnly) { call in
                try Self.allowQuery(call, ["limit", "cursor", "organization", "workspace"])
                let page = try Page(query: call.query, configuration: self.configuration)
                let organization = try Self.identifierQuery(call, "organization"), workspace = try Self.identifierQuery(call, "workspace")
                return try Self.reply(try await self.customerStore.keys(ofWorkspace: workspace, organization: organization, after: page.after, limit: page.limit))
            },
            AdminRoute(method: .post, path: "/v1/keys", scope: .provisioner) { call in
                let body = call.body
                try body.allowOnly(["id", "workspace", "name", "allowed_models", "overrides", "reason"])
                let key = APIKey(id: try body.identifier("id") ?? Self.newKeyID(), workspace: try body.identifier("workspace", required: true)!,
                                 name: try Self.customerName(body), overrides: try Self.overrides(body, currency: self.customerStore.currency),
                                 allowedModels: try Self.allowedModels(body))
                let created = try await self.customers { try await self.customerStore.createKey(key, actor: call.token.actor, reason: try body.reason()) }
                return try AdminReply(status: .created, created)
            },
            AdminRoute(method: .get, path: "/v1/keys/{id}", scope: .readOnly) { call in
                guard let key = try await self.customerStore.key(call.parameter("id")) else { throw APIError.notFound("unknown key '\(call.parameter("id"))'") }
                return try AdminReply(key)
            },
            AdminRoute(method: .patch, path: "/v1/keys/{id}", scope: .provisioner) { call in
                let body = call.body
                try body.allowOnly(["name", "allowed_models", "overrides", "reason"])
                let name = try Self.customerName(body)
                // `null` lifts the key's own model restriction.
                let models: FieldEdit<[String]> = body.isNull("allowed_models") ? .remove : try Self.allowedModels(body).map { .set($0) } ?? .keep
                let change = try body.object("overrides").map { overrides throws(APIError) in try Self.limitsChange(overrides, currency: self.customerStore.currency) }
                let key = try await self.customers {
                    try await self.customerStore.updateKey(call.parameter("id"), actor: call.token.actor, reason: try body.reason()) { key in
                        if let name { key.name = name }
                        key.allowedModels = models.applied(to: key.allowedModels)
                        if let change { key.overrides = change.applied(to: key.overrides) }
                    }
                }
                return try AdminReply(key)
            },
            AdminRoute(method: .delete, path: "/v1/keys/{id}", scope: .provisioner) { call in
                try await self.customers { try await self.customerStore.deleteKey(call.parameter("id"), actor: call.token.actor) }
                return try AdminReply(["deleted": call.parameter("id")])
            },
        ] + suspensionRoutes("/v1/keys/{id}", .key) { try await self.customerStore.key($0) }
    }

    /// An optional query parameter naming an id.
    static func identifierQuery(_ call: AdminCall, _ name: String) throws(APIError) -> String? {
        guard let value = call.query[name] else { return nil }
        guard AdminFormat.matches(value, AdminFormat.identifier) else { throw .invalid(name, "\(name) must be 1-64 letters, digits, '.', '_' or '-'") }
        return value
    }
}
