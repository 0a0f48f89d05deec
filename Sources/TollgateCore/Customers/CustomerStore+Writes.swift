import TollgateRedis

/// Writes. Each takes the `actor` the audit entry names (a CLI user, `admin-token:<id>`, ...)
/// and the `reason` it records, and is one atomic script call (see ``CustomerStore``).
extension CustomerStore {
    /// One step of a write (internal: callers use the named methods below).
    struct Operation {
        enum Verb: String { case create, put, update, delete, discard, equals, tiers }
        var verb: Verb
        var kind: CustomerKind
        var id: String
        var record: [UInt8] = []
        var expected: [UInt8] = []
    }

    // MARK: Create

    /// Creates an organisation, and optionally its first workspace and that workspace's first
    /// key, all or nothing. Throws ``CustomerStoreError`` (`.alreadyExists` for any of the three
    /// ids, `.unknownTier`, `.invalid`) and writes nothing when refused.
    @discardableResult
    public func createOrganization(_ organization: Organization, workspace: Workspace? = nil, key: APIKey? = nil,
                                   actor: String, reason: String = "") async throws -> Organization {
        try validate(organization)
        var operations = [try operation(.create, .organization, organization.id, organization)]
        var audit = "{\"organization\":\(Self.auditText(organization))"
        if let workspace {
            guard workspace.organization == organization.id else { throw CustomerStoreError.invalid("the workspace must belong to the organization being created") }
            try validate(workspace)
            operations.append(try operation(.create, .workspace, workspace.id, workspace))
            audit += ",\"workspace\":\(Self.auditText(workspace))"
        }
        if let key {
            guard let workspace, key.workspace == workspace.id else { throw CustomerStoreError.invalid("the key must belong to the workspace being created") }
            try validate(key)
            operations.append(try operation(.create, .key, key.id, key))
            audit += ",\"key\":\(Self.auditText(key))"
        }
        let extras = [workspace.map { "workspace \($0.id)" }, key.map { "key \($0.id)" }].compactMap { $0 }
        try await write(operations, actor: actor, action: "org create \(organization.id)" + (extras.isEmpty ? "" : " with " + extras.joined(separator: ", ")),
                        reason: reason, old: "", new: audit + "}")
        return organization
    }

    /// Creates a workspace in an existing organisation.
    @discardableResult
    public func createWorkspace(_ workspace: Workspace, actor: String, reason: String = "") async throws -> Workspace {
        try validate(workspace)
        try await write([try operation(.create, .workspace, workspace.id, workspace)], actor: actor,
                        action: "workspace create \(workspace.id)", reason: reason, old: "", new: Self.auditText(workspace))
        return workspace
    }

    /// Creates an API key in an existing workspace.
    @discardableResult
    public func createKey(_ key: APIKey, actor: String, reason: String = "") async throws -> APIKey {
        try validate(key)
        try await write([try operation(.create, .key, key.id, key)], actor: actor,
                        action: "key create \(key.id)", reason: reason, old: "", new: Self.auditText(key))
        return key
    }

    /// Stores a service token. The caller makes the secret and passes only its SHA-256 (lower-case
    /// hex) in `token.sha256`; `.alreadyExists` if the id or the hash is taken. The audit entry
    /// never sees the hash.
    @discardableResult
    public func createToken(_ token: ServiceToken, actor: String, reason: String = "") async throws -> ServiceToken {
        try validate(token)
        try await write([try operation(.create, .token, token.id, token)], actor: actor,
                        action: "token create \(token.id)", reason: reason, old: "", new: Self.auditText(token))
        return token
    }

    // MARK: Update

    /// Reads the organisation, applies `edit` and stores the result, retrying when another
    /// writer changed it meanwhile. Returns the stored record; writes nothing (no audit) when
    /// `edit` changes nothing. `edit` may not change the id. Suspend with
    /// `{ $0.suspended = true }`.
    @discardableResult
    public func updateOrganization(_ id: String, actor: String, reason: String = "", action: String? = nil,
                                   _ edit: (inout Organization) throws -> Void) async throws -> Organization {
        try await update(.organization, id, actor: actor, reason: reason, action: action, edit: edit, check: validate)
    }

    /// As ``updateOrganization(_:actor:reason:action:_:)``; the organisation may not change.
    @discardableResult
    public func updateWorkspace(_ id: String, actor: String, reason: String = "", action: String? = nil,
                                _ edit: (inout Workspace) throws -> Void) async throws -> Workspace {
        try await update(.workspace, id, actor: actor, reason: reason, action: action, edit: edit, check: validate)
    }

    /// As ``updateOrganization(_:actor:reason:action:_:)``; the workspace may not change.
    @discardableResult
    public func updateKey(_ id: String, actor: String, reason: String = "", action: String? = nil,
                          _ edit: (inout APIKey) throws -> Void) async throws -> APIKey {
        try await update(.key, id, actor: actor, reason: reason, action: action, edit: edit, check: validate)
    }

    /// As ``updateOrganization(_:actor:reason:action:_:)``; the hash may not change. Revoke with
    /// `{ $0.revoked = true }`: gateways refuse the token within a second.
    @discardableResult
    public func updateToken(_ id: String, actor: String, reason: String = "", action: String? = nil,
                            _ edit: (inout ServiceToken) throws -> Void) async throws -> ServiceToken {
        try await update(.token, id, actor: actor, reason: reason, action: action, edit: edit, check: validate)
    }

    /// Suspends or resumes an organisation, workspace or key (`.invalid` for a token: revoke it).
    /// Returns whether anything changed.
    @discardableResult
    public func setSuspended(_ suspended: Bool, _ kind: CustomerKind, _ id: String, actor: String, reason: String = "") async throws -> Bool {
        let action = "\(kind == .organization ? "org" : kind.noun) \(suspended ? "suspend" : "resume") \(id)"
        switch kind {
        case .organization:
            return try await updateOrganization(id, actor: actor, reason: reason, action: action) { $0.suspended = suspended }.suspended == suspended
        case .workspace:
            return try await updateWorkspace(id, actor: actor, reason: reason, action: action) { $0.suspended = suspended }.suspended == suspended
        case .key:
            return try await updateKey(id, actor: actor, reason: reason, action: action) { $0.suspended = suspended }.suspended == suspended
        case .token:
            throw CustomerStoreError.invalid("a token is revoked, not suspended")
        }
    }

    // MARK: Delete

    /// Deletes an organisation with all its workspaces and keys (one atomic step, one audit
    /// entry). Service tokens that name it keep their list.
    public func deleteOrganization(_ id: String, actor: String, reason: String = "") async throws {
        try await delete(.organization, id, actor: actor, reason: reason)
    }

    /// Deletes a workspace with all its keys.
    public func deleteWorkspace(_ id: String, actor: String, reason: String = "") async throws {
        try await delete(.workspace, id, actor: actor, reason: reason)
    }

    public func deleteKey(_ id: String, actor: String, reason: String = "") async throws {
        try await delete(.key, id, actor: actor, reason: reason)
    }

    /// Deletes a token record (revoking keeps it, for the audit trail; both stop it at once).
    public func deleteToken(_ id: String, actor: String, reason: String = "") async throws {
        try await delete(.token, id, actor: actor, reason: reason)
    }

    // MARK: Steps

    func update<Entity: Codable & Equatable & Sendable>(_ kind: CustomerKind, _ id: String, actor: String, reason: String, action: String?,
                                                        edit: (inout Entity) throws -> Void, check: (Entity) throws -> Void) async throws -> Entity {
        for _ in 0..<20 {
            let reply = try await redis.send(.keyed("GET", keys.customerRecord(kind, id)))
            guard Identifier.isValid(id), let stored = reply.bytes, let current = try decode(Entity.self, reply) else {
                throw CustomerStoreError(.notFound, kind: kind, id: id, "unknown \(kind.noun) '\(id.prefix(64))'")
            }
            var edited = current
            try edit(&edited)
            guard edited != current else { return current }
            try check(edited)
            do {
                try await write([Operation(verb: .update, kind: kind, id: id, record: try Self.encode(edited), expected: stored)], actor: actor,
                                action: action ?? "\(kind == .organization ? "org" : kind.noun) set \(id)", reason: reason,
                                old: Self.auditText(current), new: Self.auditText(edited))
                return edited
            } catch let error as CustomerStoreError where error.code == .conflict {
                continue
            }
        }
        throw CustomerStoreError(.conflict, kind: kind, id: id, "the \(kind.noun) '\(id)' kept changing under this update; try again")
    }

    func delete(_ kind: CustomerKind, _ id: String, actor: String, reason: String) async throws {
        guard Identifier.isValid(id) else { throw CustomerStoreError(.notFound, kind: kind, id: id, "unknown \(kind.noun) '\(id.prefix(64))'") }
        try await write([Operation(verb: .delete, kind: kind, id: id)], actor: actor,
                        action: "\(kind == .organization ? "org" : kind.noun) delete \(id)", reason: reason, old: "{\"id\":\"\(id)\"}", new: "")
    }

    func operation(_ verb: Operation.Verb, _ kind: CustomerKind, _ id: String, _ entity: some Encodable) throws -> Operation {
        Operation(verb: verb, kind: kind, id: id, record: try Self.encode(entity))
    }

    /// Runs customer-write with `operations`; returns the last change's sequence number.
    @discardableResult
    func write(_ operations: [Operation], actor: String, action: String, reason: String, old: String, new: String) async throws -> Int64 {
        var arguments: [any RedisArgument] = [keys.customerPrefix, changeStreamLength, keys.customerChannel, actor, action, reason, old, new, operations.count]
        arguments.reserveCapacity(arguments.count + operations.count * 5)
        for operation in operations {
            arguments += [operation.verb.rawValue, operation.kind.rawValue, operation.id, operation.record, operation.expected] as [any RedisArgument]
        }
        let reply = try await redis.run(try Self.scripts.get().write,
                                        keys: [keys.customerChanges, keys.customerSequence, keys.audit, keys.tierNames, keys.tierUse],
                                        arguments: arguments)
        guard let parts = reply.array, let status = parts.first?.int else { throw unexpected("customer-write", reply) }
        if status == 1 { return parts.count > 1 ? parts[1].int ?? 0 : 0 }
        guard parts.count == 4, let code = parts[1].string else { throw unexpected("customer-write", reply) }
        let kind = parts[2].string.flatMap(CustomerKind.init(rawValue:))
        let id = parts[3].string ?? ""
        let noun = kind?.noun ?? "entity"
        switch code {
        case "exists": throw CustomerStoreError(.alreadyExists, kind: kind, id: id, "\(noun) '\(id)' already exists")
        case "missing": throw CustomerStoreError(.notFound, kind: kind, id: id, "unknown \(noun) '\(id)'")
        case "tier": throw CustomerStoreError(.unknownTier, kind: kind, id: id, "unknown tier '\(id)'")
        case "conflict": throw CustomerStoreError(.conflict, kind: kind, id: id, "the \(noun) '\(id)' changed meanwhile")
        case "parent": throw CustomerStoreError(.invalid, kind: kind, id: id, "a \(noun) cannot move to another parent (or, for a token, change its hash)")
        case "guard": throw CustomerStoreError(.conflict, id: id, "'\(id)' changed meanwhile")
        default: throw unexpected("customer-write", reply)
        }
    }

    // MARK: Validation

    func validate(_ organization: Organization) throws {
        try validateID(organization.id, .organization)
        try validateName(organization.name)
        try validateLimits(organization.overrides)
    }

    func validate(_ workspace: Workspace) throws {
        try validateID(workspace.id, .workspace)
        try validateName(workspace.name)
        guard Identifier.isValid(workspace.organization) else { throw CustomerStoreError(.notFound, kind: .organization, id: workspace.organization, "unknown organization") }
        try validateLimits(workspace.overrides)
    }

    func validate(_ key: APIKey) throws {
        try validateID(key.id, .key)
        try validateName(key.name)
        guard Identifier.isValid(key.workspace) else { throw CustomerStoreError(.notFound, kind: .workspace, id: key.workspace, "unknown workspace") }
        try validateLimits(key.overrides)
        if let models = key.allowedModels, models.contains(where: { $0.isEmpty || $0.utf8.count > 200 }) {
            throw CustomerStoreError.invalid("allowed models must be 1-200 characters each")
        }
    }

    func validate(_ token: ServiceToken) throws {
        try validateID(token.id, .token)
        try validateName(token.name)
        guard token.sha256.utf8.count == 64, token.sha256.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw CustomerStoreError.invalid("a token's sha256 must be 64 lower-case hex digits")
        }
        if let organizations = token.organizations, organizations.contains(where: { !Identifier.isValid($0) }) {
            throw CustomerStoreError.invalid("a token's organizations must be valid ids")
        }
    }

    func validateID(_ id: String, _ kind: CustomerKind) throws {
        guard Identifier.isValid(id) else { throw CustomerStoreError(.invalid, kind: kind, id: String(id.prefix(64)), "the \(kind.noun) id must be 1-64 letters, digits, '.', '_' or '-'") }
    }

    func validateName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 200 else { throw CustomerStoreError.invalid("a name must be 1-200 bytes") }
    }

    func validateLimits(_ limits: Limits) throws {
        let problems = limits.problems(currency: currency)
        guard problems.isEmpty else { throw CustomerStoreError.invalid(problems.joined(separator: "; ")) }
    }

    /// The audit log's JSON of an entity (a token's without its hash).
    static func auditText(_ entity: some Encodable) -> String {
        if let token = entity as? ServiceToken {
            return "{\"id\":\(JSONValue.literal(token.id)),\"name\":\(JSONValue.literal(token.name)),\"organizations\":\(JSONValue.literal(token.organizations?.joined(separator: ",") ?? "all")),\"revoked\":\(token.revoked)}"
        }
        return (try? encode(entity)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
