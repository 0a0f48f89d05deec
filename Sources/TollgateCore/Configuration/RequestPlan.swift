import Foundation

/// A level of the customer hierarchy a request is checked against.
public enum Scope: String, Sendable, Hashable, Codable, CaseIterable {
    case key, workspace, organization, user

    /// The letter that starts the subject's field in the state hash.
    public var letter: String {
        switch self {
        case .key: "k"
        case .workspace: "w"
        case .organization: "o"
        case .user: "u"
        }
    }
}

/// One level a request is checked against: which subject, which limits.
public struct LevelPlan: Sendable, Hashable {
    public var scope: Scope
    public var id: String
    public var limits: Limits

    public init(scope: Scope, id: String, limits: Limits) {
        self.scope = scope
        self.id = id
        self.limits = limits
    }

    /// The subject's field in the organisation's state hash.
    public var field: String {
        switch scope {
        case .organization: "o"
        case .workspace: "w:\(id)"
        case .key: "k:\(id)"
        case .user: Self.userFieldPrefix + Self.userFieldID(id)
        }
    }

    static let userFieldPrefix = "u:"

    /// A user id as it is written in a field name: `|` (which starts a ring group's suffix,
    /// `<subject>|<g>`) becomes U+001F, which no user id can hold (control characters are
    /// refused), so user `a|0` never shares a field with ring group 0 of user `a`. Ids without
    /// `|` are written as they are.
    static func userFieldID(_ id: String) -> String {
        id.contains("|") ? id.replacingOccurrences(of: "|", with: "\u{1F}") : id
    }

    /// The user id of a state-hash field, or nil for a field that is not a user's subject
    /// (another level's, or a ring group `u:<id>|<g>`).
    static func user(ofField field: String) -> String? {
        guard field.hasPrefix(userFieldPrefix), !field.contains("|") else { return nil }
        let id = field.dropFirst(userFieldPrefix.count)
        return id.contains("\u{1F}") ? id.replacingOccurrences(of: "\u{1F}", with: "|") : String(id)
    }
}

/// Everything the configuration says about one request: who, which tier, which limits at
/// which level, which price, which calendar.
public struct RequestPlan: Sendable {
    public var organization: Organization
    public var workspace: Workspace
    public var key: APIKey
    /// The tier that governs behaviour: the workspace's if it has one, else the organisation's.
    public var tier: Tier
    /// Key, workspace, organisation, then the user cap if the tier has one and a user is named
    /// (see ``TollgateConfiguration/governingTier(of:)``: the one place these are decided).
    public var levels: [LevelPlan]
    /// UTC offset of the organisation's timezone at the request's time, in milliseconds.
    public var timezoneOffsetMillis: Int64
    public var timezone: TimeZone
}

/// Why a request cannot be planned: each maps to one HTTP status.
public struct PlanError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// 404
        case unknownKey
        /// 403
        case suspended
        /// 422
        case unknownModel
        /// 403
        case modelNotAllowed
        /// 422
        case invalid
    }

    public let kind: Kind
    public let message: String
    public var description: String { message }

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

extension TollgateConfiguration {
    /// Resolves a request for `apiKey` (and optionally an end `user`) at `time` (ms since 1970).
    /// `ignoringSuspension`: for usage that already happened (a spool replay), which counts
    /// even if the key was suspended since.
    public func plan(apiKey: String, user: String? = nil, at time: Int64, ignoringSuspension: Bool = false) throws(PlanError) -> RequestPlan {
        guard let key = keys[apiKey], let workspace = workspaces[key.workspace], let organization = organizations[workspace.organization] else {
            throw PlanError(.unknownKey, "unknown api_key")
        }
        return try plan(CustomerCache.Customer(key: key, workspace: workspace, organization: organization), user: user, at: time,
                        ignoringSuspension: ignoringSuspension)
    }

    /// Resolves a request for a customer the store (or a cache of it) found.
    public func plan(_ customer: CustomerCache.Customer, user: String? = nil, at time: Int64, ignoringSuspension: Bool = false) throws(PlanError) -> RequestPlan {
        let (key, workspace, organization) = (customer.key, customer.workspace, customer.organization)
        guard let orgTier = tiers[organization.tier] else { throw PlanError(.unknownKey, "unknown api_key") }
        if !ignoringSuspension {
            if organization.suspended { throw PlanError(.suspended, "the organization is suspended") }
            if workspace.suspended { throw PlanError(.suspended, "the workspace is suspended") }
            if key.suspended { throw PlanError(.suspended, "the api_key is suspended") }
        }

        let tier = workspace.tier.flatMap { tiers[$0] } ?? orgTier
        var levels = [keyLevel(key), workspaceLevel(workspace), organizationLevel(organization, tier: orgTier)]
        if let user, !user.isEmpty, let level = tier.userLevel(user) { levels.append(level) }
        let zone = TimeZone(identifier: orgTier.timezone) ?? TimeZone(identifier: "UTC")!
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(time) / 1000))) * 1000
        return RequestPlan(organization: organization, workspace: workspace, key: key, tier: tier, levels: levels,
                           timezoneOffsetMillis: offset, timezone: zone)
    }

    /// The price `model` is charged at under `plan`, at `time`: refused when the model is
    /// not allowed for the key or tier, or unknown and the tier has no fallback price.
    public func price(_ model: String, for plan: RequestPlan, at time: Int64) throws(PlanError) -> ResolvedPrice {
        let resolved = pricing.resolve(model, at: time)
        let canonical = resolved?.model ?? model
        if let allowed = plan.tier.allowedModels, !modelMatches(canonical, allowed), !modelMatches(model, allowed) {
            throw PlanError(.modelNotAllowed, "model '\(model)' is not allowed for this tier")
        }
        if let allowed = plan.key.allowedModels, !modelMatches(canonical, allowed), !modelMatches(model, allowed) {
            throw PlanError(.modelNotAllowed, "model '\(model)' is not allowed for this api_key")
        }
        if let resolved { return resolved }
        if let fallback = plan.tier.fallbackPrice {
            return ResolvedPrice(model: model, provider: "unknown", prices: fallback, versionID: "fallback@\(plan.tier.name)")
        }
        throw PlanError(.unknownModel, "unknown model '\(model)': it has no price and the tier names no fallback price")
    }
}
