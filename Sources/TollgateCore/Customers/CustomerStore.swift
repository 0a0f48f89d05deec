import Foundation
import TollgateRedis

/// Organisations, workspaces, API keys and service tokens: one record each in Redis, so a
/// change writes a few hundred bytes however many customers exist.
///
/// Every write runs one script (`customer-write.lua`) that checks everything first, then
/// writes the records and their indexes, one audit entry (naming `actor` and `reason`) and
/// one change-stream entry per touched entity, and publishes a notice — all or nothing.
/// Gateways follow the change stream to invalidate their caches (``CustomerChangeFeed``).
///
/// Records are the entities' JSON (the `config export` shapes); amounts in overrides are
/// plain decimals in ``currency``, the deployment's.
///
/// Refusals throw ``CustomerStoreError`` (typed code, kind and id); Redis failures throw
/// `RedisError`. Lists are keyset-paginated by id (``Page``): a walk while others write
/// returns every entity that exists throughout the walk exactly once.
public struct CustomerStore: Sendable {
    public let redis: any RedisExecutor
    public let keys: KeyLayout
    /// The currency override amounts are read in (the configuration's).
    public var currency: Currency
    /// How many entries the change stream keeps (approximately): a gateway disconnected for
    /// longer than this many changes drops its whole cache instead of catching up.
    public var changeStreamLength: Int

    static let scripts: Result<(write: RedisScript, read: RedisScript), QuotaScripts.ScriptLoadingError> = Result { () throws(QuotaScripts.ScriptLoadingError) in
        (RedisScript(name: "customer-write", source: try QuotaScripts.source("customer-write")),
         RedisScript(name: "customer-read", source: try QuotaScripts.source("customer-read")))
    }

    public static let defaultChangeStreamLength = 100_000

    public init(redis: any RedisExecutor, keys: KeyLayout, currency: Currency = .usd, changeStreamLength: Int = CustomerStore.defaultChangeStreamLength) {
        self.redis = redis
        self.keys = keys
        self.currency = currency
        self.changeStreamLength = max(100, changeStreamLength)
    }

    // MARK: Reading one

    public func organization(_ id: String) async throws -> Organization? { try await record(.organization, id) }
    public func workspace(_ id: String) async throws -> Workspace? { try await record(.workspace, id) }
    public func key(_ id: String) async throws -> APIKey? { try await record(.key, id) }
    public func token(_ id: String) async throws -> ServiceToken? { try await record(.token, id) }

    /// The live or revoked token whose secret hashes to `sha256` (lower-case hex), in one round trip.
    public func token(withHash sha256: String) async throws -> ServiceToken? {
        try await lookUpToken(sha256: sha256).token
    }

    /// An API key with its workspace and organisation, and the change sequence number the
    /// answer is current at — one round trip (the gateway's cache miss). Nil members are missing.
    public struct KeyLookup: Sendable {
        public var key: APIKey?
        public var workspace: Workspace?
        public var organization: Organization?
        public var sequence: Int64
    }

    public func lookUpKey(_ id: String) async throws -> KeyLookup {
        let reply = try await redis.send(.evalshaReadOnly(try Self.scripts.get().read, keys: [keys.customerSequence], arguments: [keys.customerPrefix, "k", id]))
        guard let parts = reply.array, parts.count == 4, let sequence = parts[0].int else { throw unexpected("customer-read", reply) }
        return KeyLookup(key: try decode(APIKey.self, parts[1]), workspace: try decode(Workspace.self, parts[2]),
                         organization: try decode(Organization.self, parts[3]), sequence: sequence)
    }

    public func lookUpToken(sha256: String) async throws -> (token: ServiceToken?, sequence: Int64) {
        let reply = try await redis.send(.evalshaReadOnly(try Self.scripts.get().read, keys: [keys.customerSequence], arguments: [keys.customerPrefix, "t", sha256]))
        guard let parts = reply.array, parts.count == 2, let sequence = parts[0].int else { throw unexpected("customer-read", reply) }
        return (try decode(ServiceToken.self, parts[1]), sequence)
    }

    /// An organisation with the change sequence number it is at least as new as (the sequence is
    /// read first, then the record, in one pipeline).
    public func lookUpOrganization(_ id: String) async throws -> (organization: Organization?, sequence: Int64) {
        guard Identifier.isValid(id) else { return (nil, 0) }
        let replies = await redis.pipeline([.keyed("GET", keys.customerSequence), .keyed("GET", keys.customerRecord(.organization, id))])
        return (try decode(Organization.self, try replies[1].get()), try replies[0].get().int ?? 0)
    }

    /// An organisation with all its workspaces and keys (for alerts, status and reports:
    /// bounded by the organisation's size, not the deployment's). Nil when it does not exist.
    public func tree(of organization: String) async throws -> CustomerTree? {
        let replies = await redis.pipeline([
            .keyed("GET", keys.customerRecord(.organization, organization)),
            .keyed("ZRANGE", keys.organizationWorkspaces(organization), 0, -1),
            .keyed("ZRANGE", keys.organizationKeys(organization), 0, -1),
        ])
        guard let org = try decode(Organization.self, try replies[0].get()) else { return nil }
        let workspaceIDs = try (replies[1].get().array ?? []).compactMap(\.string)
        let keyIDs = try (replies[2].get().array ?? []).compactMap(\.string)
        return CustomerTree(organization: org, workspaces: try await records(.workspace, workspaceIDs),
                            keys: try await records(.key, keyIDs))
    }

    /// How many entities of a kind exist.
    public func count(_ kind: CustomerKind) async throws -> Int {
        Int(try await redis.send(.keyed("ZCARD", keys.customerIndex(kind))).int ?? 0)
    }

    /// How many organisations and workspaces name `tier`.
    public func usage(ofTier tier: String) async throws -> Int {
        Int(try await redis.send(.keyed("HGET", keys.tierUse, tier)).int ?? 0)
    }

    /// The latest change's sequence number (0 before the first).
    public func sequence() async throws -> Int64 {
        try await redis.send(.keyed("GET", keys.customerSequence)).int ?? 0
    }

    // MARK: Records

    func record<Entity: Decodable>(_ kind: CustomerKind, _ id: String) async throws -> Entity? {
        guard Identifier.isValid(id) else { return nil }
        return try decode(Entity.self, try await redis.send(.keyed("GET", keys.customerRecord(kind, id))))
    }

    /// The records of `ids` that exist, in order (MGET in chunks).
    func records<Entity: Decodable>(_ kind: CustomerKind, _ ids: [String]) async throws -> [Entity] {
        var found: [Entity] = []
        found.reserveCapacity(ids.count)
        var start = 0
        while start < ids.count {
            let chunk = ids[start..<min(ids.count, start + 500)]
            var command = RedisCommand("MGET", chunk.map { keys.customerRecord(kind, $0) })
            command.keyIndex = 1
            command.keyCount = chunk.count
            for reply in try await redis.send(command).array ?? [] {
                if let entity = try decode(Entity.self, reply) { found.append(entity) }
            }
            start += 500
        }
        return found
    }

    func decode<Entity: Decodable>(_ type: Entity.Type, _ reply: RedisReply) throws -> Entity? {
        guard let bytes = reply.bytes else { return nil }
        let decoder = JSONDecoder()
        decoder.userInfo[.tollgateCurrency] = currency
        do {
            return try decoder.decode(Entity.self, from: Data(bytes))
        } catch {
            throw CustomerStoreError(.invalid, "a stored \(Entity.self) record cannot be read: \(error)")
        }
    }

    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    func unexpected(_ script: String, _ reply: RedisReply) -> CustomerStoreError {
        CustomerStoreError(.invalid, "unexpected reply from \(script): \(reply)")
    }
}

/// An organisation with its workspaces and keys.
public struct CustomerTree: Sendable, Hashable {
    public var organization: Organization
    public var workspaces: [Workspace]
    public var keys: [APIKey]

    public init(organization: Organization, workspaces: [Workspace], keys: [APIKey]) {
        self.organization = organization
        self.workspaces = workspaces
        self.keys = keys
    }
}
