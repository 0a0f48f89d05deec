import Foundation

/// One level's limits together with the tier that governs it: whose alert thresholds and
/// saturation rule apply there.
public struct GovernedLevel: Sendable, Hashable {
    public var level: LevelPlan
    public var tier: Tier

    public init(level: LevelPlan, tier: Tier) {
        self.level = level
        self.tier = tier
    }

    /// The level's name for alert markers and saturation tracking: a user is checked against
    /// the caps of whichever tier governs the request, so a user's name carries that tier.
    public var subject: String {
        level.scope == .user ? "\(level.field)@\(tier.name)" : level.field
    }
}

extension Tier {
    /// The level of end user `user` under this tier's user caps; nil when it caps no user.
    public func userLevel(_ user: String) -> LevelPlan? {
        guard let caps = userCaps, !caps.isEmpty else { return nil }
        return LevelPlan(scope: .user, id: user, limits: Limits(tpm: caps.tpm, dailyBudget: caps.dailySpend))
    }
}

/// Which limits apply where. Enforcement (``plan(apiKey:user:at:ignoringSuspension:)``), the
/// monitor's alerts, `tollgate status` and `tollgate budget` all derive their levels from here:
///
/// - the organisation: its tier's limits with its overrides;
/// - a workspace: its own tier's limits (none without one) with its overrides;
/// - a key: its overrides;
/// - an end user: the user caps of the tier governing the request — the workspace's own tier
///   when it has one, else the organisation's. A user's counters are the organisation's, but
///   their cap depends on the workspace the request comes through.
extension TollgateConfiguration {
    /// The tier that governs requests through `workspace`: its own if it names one, else its
    /// organisation's.
    public func governingTier(of workspace: Workspace) -> Tier? {
        workspace.tier.flatMap { tiers[$0] } ?? organizations[workspace.organization].flatMap { tiers[$0.tier] }
    }

    /// The organisation's budget-period timezone (its tier's), UTC if unknown.
    public func timezone(of organization: String) -> TimeZone {
        organizations[organization].flatMap { tiers[$0.tier] }.flatMap { TimeZone(identifier: $0.timezone) } ?? TimeZone(identifier: "UTC")!
    }

    public func organizationLevel(_ organization: Organization, tier: Tier) -> LevelPlan {
        LevelPlan(scope: .organization, id: organization.id, limits: tier.limits.applying(organization.overrides))
    }

    public func workspaceLevel(_ workspace: Workspace) -> LevelPlan {
        LevelPlan(scope: .workspace, id: workspace.id, limits: (workspace.tier.flatMap { tiers[$0] }?.limits ?? .none).applying(workspace.overrides))
    }

    public func keyLevel(_ key: APIKey) -> LevelPlan {
        LevelPlan(scope: .key, id: key.id, limits: key.overrides)
    }

    /// The tiers whose user caps apply to the end users of `organization`: the governing tier of
    /// each of its workspaces that caps users, by name.
    public func userCapTiers(of organization: String) -> [Tier] {
        tree(of: organization).map(userCapTiers) ?? []
    }

    public func userCapTiers(of tree: CustomerTree) -> [Tier] {
        var found: [String: Tier] = [:]
        for workspace in tree.workspaces {
            if let tier = workspace.tier.flatMap({ tiers[$0] }) ?? tiers[tree.organization.tier], tier.userLevel("") != nil { found[tier.name] = tier }
        }
        return found.values.sorted { $0.name < $1.name }
    }

    /// The organisation's budget-period timezone (its tier's), UTC if unknown.
    public func timezone(of organization: Organization) -> TimeZone {
        tiers[organization.tier].flatMap { TimeZone(identifier: $0.timezone) } ?? TimeZone(identifier: "UTC")!
    }

    /// Every limited level of `organization` with the tier governing it, the organisation first
    /// (always, limited or not): each workspace and key that has limits, and each of `users`
    /// once under every tier that caps users there. Nil for an unknown organisation or tier.
    public func governedLevels(of organization: String, users: [String]) -> [GovernedLevel]? {
        tree(of: organization).flatMap { governedLevels(of: $0, users: users) }
    }

    /// As ``governedLevels(of:users:)-(String,_)`` for an organisation read from the customer store.
    public func governedLevels(of tree: CustomerTree, users: [String]) -> [GovernedLevel]? {
        let org = tree.organization
        guard let orgTier = tiers[org.tier] else { return nil }
        var levels = [GovernedLevel(level: organizationLevel(org, tier: orgTier), tier: orgTier)]
        let keysByWorkspace = Dictionary(grouping: tree.keys, by: \.workspace)
        for workspace in tree.workspaces.sorted(by: { $0.id < $1.id }) {
            let tier = workspace.tier.flatMap { tiers[$0] } ?? orgTier
            let level = workspaceLevel(workspace)
            if !level.limits.isEmpty { levels.append(GovernedLevel(level: level, tier: tier)) }
            for key in (keysByWorkspace[workspace.id] ?? []).sorted(by: { $0.id < $1.id }) where !key.overrides.isEmpty {
                levels.append(GovernedLevel(level: keyLevel(key), tier: tier))
            }
        }
        let capping = userCapTiers(of: tree)
        for user in users {
            for tier in capping { if let level = tier.userLevel(user) { levels.append(GovernedLevel(level: level, tier: tier)) } }
        }
        return levels
    }

    /// An organisation of this document's own customer lists (an import file, a document from
    /// before the customer store) with its workspaces and keys.
    public func tree(of organization: String) -> CustomerTree? {
        guard let org = organizations[organization] else { return nil }
        let workspaces = self.workspaces.values.filter { $0.organization == organization }
        let ids = Set(workspaces.map(\.id))
        return CustomerTree(organization: org, workspaces: workspaces, keys: keys.values.filter { ids.contains($0.workspace) })
    }
}
