import TollgateCore

/// Where the dashboard reads organisations from: every page goes through these, so a
/// change of where customers are kept changes this file only.
extension Dashboard {
    /// Every organisation id, sorted.
    func organizationIDs(_ configuration: TollgateConfiguration) -> [String] {
        configuration.organizations.keys.sorted()
    }

    func organizationCount(_ configuration: TollgateConfiguration) -> Int {
        configuration.organizations.count
    }

    /// How many organisations each tier has: counted once per customer load, so a page
    /// that needs the tiers' timezones does not go over every organisation.
    func organizationsPerTier(_ configuration: TollgateConfiguration) -> [String: Int] {
        customers.organizationsPerTier ?? Self.organizationsPerTier(configuration)
    }

    static func organizationsPerTier(_ configuration: TollgateConfiguration) -> [String: Int] {
        var counts: [String: Int] = [:]
        for organization in configuration.organizations.values { counts[organization.tier, default: 0] += 1 }
        return counts
    }

    /// Every organisation with its workspaces and keys, in one pass over the configuration
    /// (`DashboardCustomers` keeps them per load).
    static func customerTrees(_ configuration: TollgateConfiguration) -> [String: CustomerTree] {
        let workspaces = Dictionary(grouping: configuration.workspaces.values, by: \.organization)
        let keys = Dictionary(grouping: configuration.keys.values, by: \.workspace)
        return configuration.organizations.mapValues { organization in
            let own = workspaces[organization.id] ?? []
            return CustomerTree(organization: organization, workspaces: own, keys: own.flatMap { keys[$0.id] ?? [] })
        }
    }

    /// The organisation's levels that carry limits (what enforcement checks), from the
    /// customers' trees: proportional to the organisation's own workspaces and keys.
    func governedLevels(of organization: String, _ configuration: TollgateConfiguration) -> [LevelPlan] {
        guard let tree = customers.tree(of: organization) ?? configuration.tree(of: organization) else { return [] }
        return configuration.governedLevels(of: tree, users: [])?.map(\.level) ?? []
    }
}
