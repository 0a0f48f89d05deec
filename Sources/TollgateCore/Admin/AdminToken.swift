/// A bearer token for the admin HTTP API, stored as the SHA-256 of its secret.
///
/// Its scope decides what it may do: `read-only` reads, `provisioner` also creates, changes
/// and suspends customers, keys and service tokens, `admin` also changes prices and tiers and
/// corrects budgets.
public struct AdminToken: Sendable, Hashable, Codable {
    public enum Scope: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
        case readOnly = "read-only"
        case provisioner
        case admin

        /// Whether a token of this scope may do what needs `required`.
        public func covers(_ required: Scope) -> Bool { self >= required }

        public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rank < rhs.rank }

        private var rank: Int {
            switch self {
            case .readOnly: 0
            case .provisioner: 1
            case .admin: 2
            }
        }
    }

    public var id: String
    public var name: String
    /// Lower-case hex SHA-256 of the secret.
    public var sha256: String
    public var scope: Scope
    public var createdAt: Int64
    public var revoked: Bool

    public init(id: String, name: String, sha256: String, scope: Scope, createdAt: Int64, revoked: Bool = false) {
        self.id = id
        self.name = name
        self.sha256 = sha256
        self.scope = scope
        self.createdAt = createdAt
        self.revoked = revoked
    }

    /// How the audit log names a change made with this token.
    public var actor: String { "admin-token:\(id)" }

    enum CodingKeys: String, CodingKey {
        case id, name, sha256, scope
        case createdAt = "created_at"
        case revoked
    }
}
