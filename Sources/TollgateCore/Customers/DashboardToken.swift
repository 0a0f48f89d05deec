/// A token for the dashboard's pages: read-only, stored as the SHA-256 of its secret.
///
/// An operator token sees every organisation; a customer token sees one (a SaaS hands it
/// to that customer), and any other organisation's page answers 403.
public struct DashboardToken: Sendable, Hashable, Codable {
    public enum Scope: String, Sendable, Hashable, Codable, CaseIterable {
        case `operator`
        case customer
    }

    public var id: String
    public var name: String
    /// Lower-case hex SHA-256 of the secret.
    public var sha256: String
    public var scope: Scope
    /// The one organisation of a customer token; nil for an operator token.
    public var organization: String?
    public var createdAt: Int64
    public var revoked: Bool

    public init(id: String, name: String, sha256: String, scope: Scope, organization: String? = nil, createdAt: Int64, revoked: Bool = false) {
        self.id = id
        self.name = name
        self.sha256 = sha256
        self.scope = scope
        self.organization = organization
        self.createdAt = createdAt
        self.revoked = revoked
    }

    /// Whether the token may see `organization`'s pages.
    public func allows(organization id: String) -> Bool {
        !revoked && (scope == .operator || organization == id)
    }

    enum CodingKeys: String, CodingKey {
        case id, name, sha256, scope, organization
        case createdAt = "created_at"
        case revoked
    }
}
