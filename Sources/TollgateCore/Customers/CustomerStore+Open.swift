import TollgateRedis

extension CustomerStore {
    /// The store as a process should open it: in the configuration's currency, with the tier
    /// names customer writes check in place, and a deployment that still keeps its customers
    /// in the configuration document migrated to records first (see ``migrate(from:)``; safe
    /// when several processes open at once).
    public static func open(redis: any RedisExecutor, keys: KeyLayout, changeStreamLength: Int = defaultChangeStreamLength) async throws -> CustomerStore {
        let configurations = ConfigurationStore(redis: redis, keys: keys)
        var loaded = try await configurations.load()
        var store = CustomerStore(redis: redis, keys: keys, currency: loaded.configuration.settings.currency, changeStreamLength: changeStreamLength)
        for _ in 0..<20 {
            do {
                try await store.prepare(loaded)
                return store
            } catch let error as CustomerStoreError where error.code == .conflict {
                // The document changed meanwhile: start again from the new version.
                loaded = try await configurations.load()
                store.currency = loaded.configuration.settings.currency
            }
        }
        throw CustomerStoreError(.conflict, "the configuration kept changing while the customer store was opened; try again")
    }

    /// Makes sure the set of tier names matches `loaded` (written by config-write since this
    /// version; an older deployment's document may predate it).
    func prepare(_ loaded: ConfigurationStore.Versioned) async throws {
        if loaded.configuration.carriesCustomers {
            try await replaceCustomers(with: loaded, actor: "tollgate", action: "customers moved from the configuration document to records")
            return
        }
        let exists = try await redis.send(.keyed("EXISTS", keys.tierNames)).int ?? 0
        if exists == 0 && !loaded.configuration.tiers.isEmpty {
            try await write([versionGuard(loaded.version), try operation(.put, .organization, "", loaded.configuration.tiers.keys.sorted()).as(.tiers)],
                            actor: "", action: "", reason: "", old: "", new: "")
        }
    }

    /// Makes the stored customers exactly those `loaded` carries, then stores the document
    /// without them (one audit entry, `action`): how a deployment from before the customer store
    /// is migrated, and how `config import` lands. Every batch is guarded by the document's
    /// version, so two processes doing this at once write the same records and one strips the
    /// document; if the document changes meanwhile this throws `.conflict` (re-read, retry).
    /// Memory: the document (already in memory) plus one batch.
    public func replaceCustomers(with loaded: ConfigurationStore.Versioned, actor: String, action: String, reason: String = "") async throws {
        let configuration = loaded.configuration
        var writer = BatchWriter(store: self, version: loaded.version)
        // The tiers first (a deployment from before the store has no tier set yet).
        try await writer.setTiers(configuration.tiers.keys.sorted())
        // Parents before children, so every batch finds its parents.
        for org in configuration.organizations.values.sorted(by: { $0.id < $1.id }) { try await writer.put(.organization(org)) }
        for ws in configuration.workspaces.values.sorted(by: { $0.id < $1.id }) { try await writer.put(.workspace(ws)) }
        for key in configuration.keys.values.sorted(by: { $0.id < $1.id }) { try await writer.put(.key(key)) }
        for token in configuration.tokens.values.sorted(by: { $0.id < $1.id }) { try await writer.put(.token(token)) }
        // Then whatever the document does not carry goes, children first.
        let kept: [(CustomerKind, Set<String>)] = [(.key, Set(configuration.keys.keys)), (.workspace, Set(configuration.workspaces.keys)),
                                                   (.organization, Set(configuration.organizations.keys)), (.token, Set(configuration.tokens.keys))]
        for (kind, ids) in kept {
            var after: String?
            repeat {
                let page = try await self.ids(of: kind, after: after, limit: 1_000)
                for id in page where !ids.contains(id) { try await writer.discard(kind, id) }
                after = page.count == 1_000 ? page.last : nil
            } while after != nil
            try await writer.flush()
        }
        let stored = try await ConfigurationStore(redis: redis, keys: keys).replace(
            version: loaded.version, with: configuration.withoutCustomers,
            ConfigurationStore.Change(actor: actor, action: action, reason: reason, oldValue: "",
                                      newValue: "{\"organizations\":\(configuration.organizations.count),\"workspaces\":\(configuration.workspaces.count),\"keys\":\(configuration.keys.count),\"tokens\":\(configuration.tokens.count)}"))
        guard stored != nil else { throw CustomerStoreError(.conflict, "the configuration changed while its customers were moved; try again") }
    }

    /// An operation that refuses the whole write unless the configuration is still at `version`.
    func versionGuard(_ version: Int64) -> Operation {
        Operation(verb: .equals, kind: .organization, id: keys.configurationVersion, expected: version == 0 ? [] : Array(String(version).utf8))
    }
}

extension CustomerStore.Operation {
    func `as`(_ verb: Verb) -> Self {
        var copy = self
        copy.verb = verb
        return copy
    }
}

extension CustomerStore {
    /// Creates or replaces many customers in one script call, parents before children, with
    /// their indexes and change-stream entries but no audit entry (the caller audits the load
    /// as a whole): for bulk loads such as benchmarks. Refused as a whole when a parent or a
    /// tier is missing.
    public func put(organizations: [Organization], workspaces: [Workspace] = [], keys: [APIKey] = []) async throws {
        for organization in organizations { try validate(organization) }
        for workspace in workspaces { try validate(workspace) }
        for key in keys { try validate(key) }
        var operations: [Operation] = []
        operations.reserveCapacity(organizations.count + workspaces.count + keys.count)
        for organization in organizations { operations.append(try operation(.put, .organization, organization.id, organization)) }
        for workspace in workspaces { operations.append(try operation(.put, .workspace, workspace.id, workspace)) }
        for key in keys { operations.append(try operation(.put, .key, key.id, key)) }
        try await write(operations, actor: "", action: "", reason: "", old: "", new: "")
    }
}
