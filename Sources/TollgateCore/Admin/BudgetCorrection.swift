import Foundation
import TollgateRedis

/// A correction of the current period's spend at one level of an organisation — a credit
/// (e.g. after a provider refund) or a reset to zero — with its audit entry. What the admin
/// API's budget routes do; the subject is checked against the customer store.
public struct BudgetCorrection: Sendable {
    public var organization: String
    public var workspace: String?
    public var key: String?
    public var user: String?
    public var period: QuotaEngine.BudgetPeriod
    /// Nil resets the spend to zero.
    public var credit: Money?

    public init(organization: String, workspace: String? = nil, key: String? = nil, user: String? = nil, period: QuotaEngine.BudgetPeriod, credit: Money?) {
        self.organization = organization
        self.workspace = workspace
        self.key = key
        self.user = user
        self.period = period
        self.credit = credit
    }

    public struct Result: Sendable, Encodable {
        public var level: String
        public var period: String
        public var spentBefore: String
        public var spentAfter: String

        enum CodingKeys: String, CodingKey {
            case level, period
            case spentBefore = "spent_before"
            case spentAfter = "spent_after"
        }
    }

    /// The narrowest level named (a user, else the key, else the workspace, else the
    /// organisation), checked: each one named must exist and belong to the organisation.
    public func level(in customers: CustomerStore) async throws -> (Organization, LevelPlan) {
        guard let org = try await customers.organization(organization) else { throw ChangeRefusal(.notFound, "unknown organization '\(organization)'", field: "organization") }
        if let workspace {
            guard let found = try await customers.workspace(workspace), found.organization == organization else {
                throw ChangeRefusal(.notFound, "unknown workspace '\(workspace)' in organization '\(organization)'", field: "workspace")
            }
        }
        if let key {
            let lookup = try await customers.lookUpKey(key)
            guard let found = lookup.key, lookup.organization?.id == organization else {
                throw ChangeRefusal(.notFound, "unknown key '\(key)' in organization '\(organization)'", field: "key")
            }
            if let workspace, found.workspace != workspace { throw ChangeRefusal(.notFound, "key '\(key)' is not in workspace '\(workspace)'", field: "key") }
        }
        // A correction changes a counter; which limits apply there does not matter.
        if let user { return (org, LevelPlan(scope: .user, id: user, limits: .none)) }
        if let key { return (org, LevelPlan(scope: .key, id: key, limits: .none)) }
        if let workspace { return (org, LevelPlan(scope: .workspace, id: workspace, limits: .none)) }
        return (org, LevelPlan(scope: .organization, id: organization, limits: .none))
    }

    /// Applies the correction and appends its audit entry naming `actor` and `reason`.
    public func apply(customers: CustomerStore, configuration: TollgateConfiguration, scripts: QuotaScripts, actor: String, reason: String) async throws -> Result {
        let (org, level) = try await level(in: customers)
        let engine = QuotaEngine(redis: customers.redis, keys: KeyLayout(prefix: customers.keys.prefix, partitions: configuration.settings.partitions), scripts: scripts)
        let (before, after) = try await engine.adjustBudget(organization: organization, level: level, period: period, credit: credit,
                                                            timezone: configuration.timezone(of: org), settings: configuration.settings)
        let action = "budget \(credit == nil ? "reset" : "credit") \(organization) \(level.field) \(period.rawValue)"
        try await AuditLog.append(redis: customers.redis, keys: customers.keys, actor: actor, action: action, reason: reason,
                                  old: "{\"spent\":\"\(before.decimalString)\"}", new: "{\"spent\":\"\(after.decimalString)\"}")
        return Result(level: level.field, period: period.rawValue, spentBefore: before.decimalString, spentAfter: after.decimalString)
    }
}
