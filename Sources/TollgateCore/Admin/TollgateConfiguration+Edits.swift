/// The edits of prices and tiers that the CLI and the admin API share. Each checks what it
/// needs, changes the configuration in place and returns what the audit log records, or nil
/// when nothing would change; a refusal changes nothing. The whole configuration is checked
/// again (``TollgateConfiguration/problems``) before it is stored.
extension TollgateConfiguration {
    public enum Presence: Sendable {
        /// The subject must not exist yet.
        case new
        /// The subject must exist.
        case existing
        /// Either.
        case any
    }

    /// Creates or changes the tier `name`.
    public mutating func setTier(_ name: String, _ change: TierChange, presence: Presence = .any) throws(ChangeRefusal) -> AuditValues? {
        guard Identifier.isValid(name) else { throw ChangeRefusal(.invalid, "the tier name must be 1-64 letters, digits, '.', '_' or '-'", field: "name") }
        let old = tiers[name]
        switch (presence, old) {
        case (.new, .some): throw ChangeRefusal(.conflict, "tier '\(name)' already exists")
        case (.existing, nil): throw ChangeRefusal(.notFound, "unknown tier '\(name)'")
        default: break
        }
        let tier = change.applied(to: old ?? Tier(name: name))
        let problems = TollgateConfiguration(settings: settings, tiers: [tier]).problems
        guard problems.isEmpty else { throw ChangeRefusal(.invalid, problems.joined(separator: "; ")) }
        guard tier != old else { return nil }
        tiers[name] = tier
        return AuditValues(old: AuditValues.json(old), new: AuditValues.json(tier))
    }

    /// Deletes a tier nobody uses.
    public mutating func removeTier(_ name: String) throws(ChangeRefusal) -> AuditValues {
        guard let tier = tiers[name] else { throw ChangeRefusal(.notFound, "unknown tier '\(name)'") }
        let users = users(ofTier: name)
        guard users.isEmpty else {
            throw ChangeRefusal(.conflict, "tier '\(name)' is in use by \(users.prefix(5).joined(separator: ", "))\(users.count > 5 ? " and \(users.count - 5) more" : "")")
        }
        tiers[name] = nil
        return AuditValues(old: AuditValues.json(tier), new: "")
    }

    /// Adds a price version to a model (creating the model when `presence` allows), or changes
    /// only its tokenizer and aliases when the change has no prices.
    public mutating func setPrice(_ change: PriceChange, presence: Presence = .any) throws(ChangeRefusal) -> AuditValues {
        let model = change.model
        guard PriceChange.isModelName(model) else { throw ChangeRefusal(.invalid, "the model name must be 1-128 visible ASCII characters", field: "model") }
        let existing = pricing.entry(named: model)
        switch (presence, existing) {
        case (.new, .some): throw ChangeRefusal(.conflict, "model '\(model)' already has a price")
        case (.existing, nil): throw ChangeRefusal(.notFound, "unknown model '\(model)'")
        default: break
        }
        guard existing != nil || change.provider != nil else { throw ChangeRefusal(.invalid, "'\(model)' is a new model: give its provider", field: "provider") }
        guard existing != nil || change.prices != nil else { throw ChangeRefusal(.invalid, "'\(model)' is a new model: give its input and output prices", field: "input") }
        var entry = existing ?? ModelPricing(model: model, provider: change.provider!, versions: [])
        if let prices = change.prices {
            let next = (entry.versions.map(\.version).max() ?? 0) + 1
            entry.versions.append(PriceVersion(version: next, effectiveFrom: change.effectiveFrom, prices: prices))
        }
        pricing.upsert(ModelPricing(model: entry.model, provider: change.provider ?? entry.provider,
                                    aliases: Array(Set(entry.aliases + change.aliases)).sorted(), versions: entry.versions,
                                    tokenizer: change.tokenizer ?? (existing == nil ? nil : entry.tokenizer)))
        return AuditValues(old: AuditValues.json(existing), new: AuditValues.json(pricing.entry(named: model)))
    }

    /// Stops pricing a model from `effectiveFrom` on (requests for it are then refused).
    public mutating func retirePrice(_ model: String, effectiveFrom: Int64) throws(ChangeRefusal) -> AuditValues {
        guard var entry = pricing.entry(named: model), let latest = entry.latest else { throw ChangeRefusal(.notFound, "unknown model '\(model)'") }
        let old = AuditValues.json(entry)
        entry.versions.append(PriceVersion(version: (entry.versions.map(\.version).max() ?? 0) + 1, effectiveFrom: effectiveFrom,
                                           prices: latest.prices, retired: true))
        pricing.upsert(ModelPricing(model: entry.model, provider: entry.provider, aliases: entry.aliases, versions: entry.versions,
                                    tokenizer: entry.tokenizer))
        return AuditValues(old: old, new: AuditValues.json(pricing.entry(named: model)))
    }
}
