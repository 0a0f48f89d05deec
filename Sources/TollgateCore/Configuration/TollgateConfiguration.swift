import Foundation

/// Everything the gateways, the monitor and the CLI share: settings, prices, tiers,
/// customers, service tokens and dashboard tokens. Stored in Redis as one versioned document, changed all
/// or nothing, and held in memory by every gateway as an immutable snapshot.
public struct TollgateConfiguration: Sendable, Hashable {
    public var settings: Settings
    public var pricing: PriceCatalogue
    public var tiers: [String: Tier]
    public var organizations: [String: Organization]
    public var workspaces: [String: Workspace]
    public var keys: [String: APIKey]
    public var tokens: [String: ServiceToken]
    public var dashboardTokens: [String: DashboardToken]
    public var adminTokens: [String: AdminToken]

    public init(settings: Settings = Settings(), pricing: PriceCatalogue = PriceCatalogue(), tiers: [Tier] = [],
                organizations: [Organization] = [], workspaces: [Workspace] = [], keys: [APIKey] = [], tokens: [ServiceToken] = [],
                dashboardTokens: [DashboardToken] = [], adminTokens: [AdminToken] = []) {
        self.settings = settings
        self.pricing = pricing
        self.tiers = Dictionary(tiers.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        self.organizations = Dictionary(organizations.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        self.workspaces = Dictionary(workspaces.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        self.keys = Dictionary(keys.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        self.tokens = Dictionary(tokens.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        self.dashboardTokens = Dictionary(dashboardTokens.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        self.adminTokens = Dictionary(adminTokens.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
    }

    /// Every problem that makes this configuration unusable, as one sentence each.
    public var problems: [String] {
        var problems = settings.problems
        let currency = settings.currency
        problems += pricing.problems
        for tier in tiers.values.sorted(by: { $0.name < $1.name }) {
            let prefix = "tier \(tier.name): "
            if !Identifier.isValid(tier.name) { problems.append(prefix + "the name must be 1-64 letters, digits, '.', '_' or '-'") }
            problems += tier.limits.problems(currency: currency).map { prefix + $0 }
            if let caps = tier.userCaps {
                problems += Limits(tpm: caps.tpm, dailyBudget: caps.dailySpend).problems(currency: currency).map { prefix + "user cap " + $0 }
            }
            if TimeZone(identifier: tier.timezone) == nil { problems.append(prefix + "unknown timezone '\(tier.timezone)'") }
            if !(1...1_000_000).contains(tier.defaultOutputTokens) { problems.append(prefix + "default_output_tokens must be between 1 and 1000000") }
            if !(1...86_400).contains(tier.holdSeconds) { problems.append(prefix + "hold_seconds must be between 1 and 86400") }
            if tier.alertThresholds.contains(where: { !(1...1_000).contains($0) }) { problems.append(prefix + "alert thresholds must be percentages between 1 and 1000") }
            if let percent = tier.cacheHitAlertPercent, !(1...100).contains(percent) { problems.append(prefix + "cache_hit_alert_percent must be between 1 and 100") }
            if tier.cacheHitAlertMinimumRequests < 1 { problems.append(prefix + "cache_hit_alert_minimum_requests must be at least 1") }
        }
        for organization in organizations.values.sorted(by: { $0.id < $1.id }) { problems += self.problems(of: organization) }
        for workspace in workspaces.values.sorted(by: { $0.id < $1.id }) {
            problems += self.problems(of: workspace, organizationExists: organizations[workspace.organization] != nil)
        }
        for key in keys.values.sorted(by: { $0.id < $1.id }) { problems += self.problems(of: key, workspaceExists: workspaces[key.workspace] != nil) }
        for token in tokens.values.sorted(by: { $0.id < $1.id }) { problems += self.problems(of: token) { organizations[$0] != nil } }
        for token in dashboardTokens.values.sorted(by: { $0.id < $1.id }) {
            switch (token.scope, token.organization) {
            case (.customer, nil): problems.append("dashboard token \(token.id): a customer token needs its organization")
            case (.customer, let organization?) where carriesCustomers && organizations[organization] == nil:
                problems.append("dashboard token \(token.id): unknown organization '\(organization)'")
            case (.operator, .some): problems.append("dashboard token \(token.id): an operator token has no organization")
            default: break
            }
        }
        return problems
    }

    /// One organisation's problems against this configuration's tiers and currency (what
    /// ``problems`` says about it; a streamed import checks customers one at a time).
    public func problems(of organization: Organization) -> [String] {
        let prefix = "organization \(organization.id): "
        var problems: [String] = []
        if !Identifier.isValid(organization.id) { problems.append(prefix + "the id must be 1-64 letters, digits, '.', '_' or '-'") }
        if tiers[organization.tier] == nil { problems.append(prefix + "unknown tier '\(organization.tier)'") }
        return problems + organization.overrides.problems(currency: settings.currency).map { prefix + $0 }
    }

    public func problems(of workspace: Workspace, organizationExists: Bool) -> [String] {
        let prefix = "workspace \(workspace.id): "
        var problems: [String] = []
        if !Identifier.isValid(workspace.id) { problems.append(prefix + "the id must be 1-64 letters, digits, '.', '_' or '-'") }
        if !organizationExists { problems.append(prefix + "unknown organization '\(workspace.organization)'") }
        if let tier = workspace.tier, tiers[tier] == nil { problems.append(prefix + "unknown tier '\(tier)'") }
        return problems + workspace.overrides.problems(currency: settings.currency).map { prefix + $0 }
    }

    public func problems(of key: APIKey, workspaceExists: Bool) -> [String] {
        let prefix = "key \(key.id): "
        var problems: [String] = []
        if !Identifier.isValid(key.id) { problems.append(prefix + "the id must be 1-64 letters, digits, '.', '_' or '-'") }
        if !workspaceExists { problems.append(prefix + "unknown workspace '\(key.workspace)'") }
        return problems + key.overrides.problems(currency: settings.currency).map { prefix + $0 }
    }

    public func problems(of token: ServiceToken, organizationExists: (String) -> Bool) -> [String] {
        (token.organizations ?? []).filter { !organizationExists($0) }.map { "token \(token.id): unknown organization '\($0)'" }
    }

    /// Tiers, organisations or workspaces that use `tier`.
    public func users(ofTier tier: String) -> [String] {
        organizations.values.filter { $0.tier == tier }.map { "organization \($0.id)" }.sorted()
            + workspaces.values.filter { $0.tier == tier }.map { "workspace \($0.id)" }.sorted()
    }

    /// Whether this document carries customers of its own: an import file, or a deployment's
    /// document from before the customer store (moved to records on first start). A stored
    /// document has none once migrated; processes read customers from ``CustomerStore``.
    public var carriesCustomers: Bool {
        !organizations.isEmpty || !workspaces.isEmpty || !keys.isEmpty || !tokens.isEmpty
    }

    /// This configuration carrying one organisation's customers (read from the store), so that
    /// what takes an organisation id (``timezone(of:)-(String)``, ``governedLevels(of:users:)-(String,_)``,
    /// ``userCapTiers(of:)-(String)``) answers for it.
    public func including(_ tree: CustomerTree) -> TollgateConfiguration {
        var copy = self
        copy.organizations[tree.organization.id] = tree.organization
        for workspace in tree.workspaces { copy.workspaces[workspace.id] = workspace }
        for key in tree.keys { copy.keys[key.id] = key }
        return copy
    }

    /// This configuration without its customer lists.
    public var withoutCustomers: TollgateConfiguration {
        var copy = self
        copy.organizations = [:]
        copy.workspaces = [:]
        copy.keys = [:]
        copy.tokens = [:]
        return copy
    }

    public func token(withHash sha256: String) -> ServiceToken? {
        tokens.values.first { $0.sha256 == sha256 && !$0.revoked }
    }

    public func dashboardToken(withHash sha256: String) -> DashboardToken? {
        dashboardTokens.values.first { $0.sha256 == sha256 && !$0.revoked }
    }

    public func adminToken(withHash sha256: String) -> AdminToken? {
        adminTokens.values.first { $0.sha256 == sha256 && !$0.revoked }
    }
}

extension TollgateConfiguration: Codable {
    enum CodingKeys: String, CodingKey {
        case settings, pricing, tiers, organizations, workspaces, keys, tokens
        case dashboardTokens = "dashboard_tokens"
        case adminTokens = "admin_tokens"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            settings: try container.decodeIfPresent(Settings.self, forKey: .settings) ?? Settings(),
            pricing: try container.decodeIfPresent(PriceCatalogue.self, forKey: .pricing) ?? PriceCatalogue(),
            tiers: try container.decodeIfPresent([Tier].self, forKey: .tiers) ?? [],
            organizations: try container.decodeIfPresent([Organization].self, forKey: .organizations) ?? [],
            workspaces: try container.decodeIfPresent([Workspace].self, forKey: .workspaces) ?? [],
            keys: try container.decodeIfPresent([APIKey].self, forKey: .keys) ?? [],
            tokens: try container.decodeIfPresent([ServiceToken].self, forKey: .tokens) ?? [],
            dashboardTokens: try container.decodeIfPresent([DashboardToken].self, forKey: .dashboardTokens) ?? [],
            adminTokens: try container.decodeIfPresent([AdminToken].self, forKey: .adminTokens) ?? [])
    }

    /// Lists sorted by id, so that export → import → export is byte-for-byte identical.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(settings, forKey: .settings)
        try container.encode(pricing, forKey: .pricing)
        try container.encode(tiers.values.sorted { $0.name < $1.name }, forKey: .tiers)
        try container.encode(organizations.values.sorted { $0.id < $1.id }, forKey: .organizations)
        try container.encode(workspaces.values.sorted { $0.id < $1.id }, forKey: .workspaces)
        try container.encode(keys.values.sorted { $0.id < $1.id }, forKey: .keys)
        try container.encode(tokens.values.sorted { $0.id < $1.id }, forKey: .tokens)
        // Absent until the first one exists, so documents written before keep their bytes.
        if !dashboardTokens.isEmpty { try container.encode(dashboardTokens.values.sorted { $0.id < $1.id }, forKey: .dashboardTokens) }
        if !adminTokens.isEmpty { try container.encode(adminTokens.values.sorted { $0.id < $1.id }, forKey: .adminTokens) }
    }

    /// JSON with the currency wired in for plain-decimal amounts.
    public static func decodeJSON(_ data: Data) throws -> TollgateConfiguration {
        // Settings first: amounts elsewhere are in its currency.
        let settings = (try? JSONDecoder().decode(SettingsOnly.self, from: data))?.settings ?? Settings()
        let decoder = JSONDecoder()
        decoder.userInfo[.tollgateCurrency] = settings.currency
        return try decoder.decode(TollgateConfiguration.self, from: data)
    }

    public func encodeJSON(pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    private struct SettingsOnly: Decodable {
        var settings: Settings?
    }
}
