/// A tenant: the top of the hierarchy. Its tier governs limits and behaviour unless a
/// workspace names its own.
public struct Organization: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var tier: String
    public var overrides: Limits
    public var suspended: Bool

    public init(id: String, name: String? = nil, tier: String, overrides: Limits = .none, suspended: Bool = false) {
        self.id = id
        self.name = name ?? id
        self.tier = tier
        self.overrides = overrides
        self.suspended = suspended
    }

    enum CodingKeys: String, CodingKey { case id, name, tier, overrides, suspended }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id),
            name: try container.decodeIfPresent(String.self, forKey: .name),
            tier: try container.decode(String.self, forKey: .tier),
            overrides: try container.decodeIfPresent(Limits.self, forKey: .overrides) ?? .none,
            suspended: try container.decodeIfPresent(Bool.self, forKey: .suspended) ?? false)
    }
}

/// A team or product inside an organisation. It may carry its own tier.
public struct Workspace: Sendable, Hashable, Codable {
    public var id: String
    public var organization: String
    public var name: String
    public var tier: String?
    public var overrides: Limits
    public var suspended: Bool

    public init(id: String, organization: String, name: String? = nil, tier: String? = nil, overrides: Limits = .none, suspended: Bool = false) {
        self.id = id
        self.organization = organization
        self.name = name ?? id
        self.tier = tier
        self.overrides = overrides
        self.suspended = suspended
    }

    enum CodingKeys: String, CodingKey { case id, organization, name, tier, overrides, suspended }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id),
            organization: try container.decode(String.self, forKey: .organization),
            name: try container.decodeIfPresent(String.self, forKey: .name),
            tier: try container.decodeIfPresent(String.self, forKey: .tier),
            overrides: try container.decodeIfPresent(Limits.self, forKey: .overrides) ?? .none,
            suspended: try container.decodeIfPresent(Bool.self, forKey: .suspended) ?? false)
    }
}

/// The key an app server names in each request (`api_key`): the bottom of the hierarchy.
public struct APIKey: Sendable, Hashable, Codable {
    public var id: String
    public var workspace: String
    public var name: String
    public var overrides: Limits
    /// Models (names or `prefix*`) this key may use, on top of its tier's list.
    public var allowedModels: [String]?
    public var suspended: Bool

    public init(id: String, workspace: String, name: String? = nil, overrides: Limits = .none, allowedModels: [String]? = nil, suspended: Bool = false) {
        self.id = id
        self.workspace = workspace
        self.name = name ?? id
        self.overrides = overrides
        self.allowedModels = allowedModels
        self.suspended = suspended
    }

    enum CodingKeys: String, CodingKey {
        case id, workspace, name, overrides
        case allowedModels = "allowed_models"
        case suspended
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id),
            workspace: try container.decode(String.self, forKey: .workspace),
            name: try container.decodeIfPresent(String.self, forKey: .name),
            overrides: try container.decodeIfPresent(Limits.self, forKey: .overrides) ?? .none,
            allowedModels: try container.decodeIfPresent([String].self, forKey: .allowedModels),
            suspended: try container.decodeIfPresent(Bool.self, forKey: .suspended) ?? false)
    }
}

/// A bearer token app servers present to gateways. Only its SHA-256 is stored.
public struct ServiceToken: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    /// Lower-case hex SHA-256 of the secret.
    public var sha256: String
    /// Organisations it may act for; nil means all.
    public var organizations: [String]?
    public var createdAt: Int64
    public var revoked: Bool

    public init(id: String, name: String, sha256: String, organizations: [String]? = nil, createdAt: Int64, revoked: Bool = false) {
        self.id = id
        self.name = name
        self.sha256 = sha256
        self.organizations = organizations
        self.createdAt = createdAt
        self.revoked = revoked
    }

    public func allows(organization: String) -> Bool {
        organizations.map { $0.contains(organization) } ?? true
    }

    enum CodingKeys: String, CodingKey {
        case id, name, sha256, organizations
        case createdAt = "created_at"
        case revoked
    }
}

/// Identifiers of organisations, workspaces, keys, tiers and tokens: 1–64 characters of
/// letters, digits, `.`, `_` and `-`. Keeps Redis keys and logs unambiguous.
public enum Identifier {
    public static let maximumLength = 64

    public static func isValid(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= maximumLength && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}
