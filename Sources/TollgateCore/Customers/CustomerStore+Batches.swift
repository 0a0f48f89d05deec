import TollgateRedis

/// One customer of any kind: a line of `config export --stream`, `{"organization":{…}}`
/// (or `workspace`, `key`, `token`).
public enum CustomerEntity: Sendable, Hashable, Codable {
    case organization(Organization)
    case workspace(Workspace)
    case key(APIKey)
    case token(ServiceToken)

    public var kind: CustomerKind {
        switch self {
        case .organization: .organization
        case .workspace: .workspace
        case .key: .key
        case .token: .token
        }
    }

    public var id: String {
        switch self {
        case .organization(let organization): organization.id
        case .workspace(let workspace): workspace.id
        case .key(let key): key.id
        case .token(let token): token.id
        }
    }

    enum CodingKeys: String, CodingKey { case organization, workspace, key, token }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard container.allKeys.count == 1, let only = container.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "a customer is an object with exactly one of organization, workspace, key or token"))
        }
        switch only {
        case .organization: self = .organization(try container.decode(Organization.self, forKey: .organization))
        case .workspace: self = .workspace(try container.decode(Workspace.self, forKey: .workspace))
        case .key: self = .key(try container.decode(APIKey.self, forKey: .key))
        case .token: self = .token(try container.decode(ServiceToken.self, forKey: .token))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .organization(let organization): try container.encode(organization, forKey: .organization)
        case .workspace(let workspace): try container.encode(workspace, forKey: .workspace)
        case .key(let key): try container.encode(key, forKey: .key)
        case .token(let token): try container.encode(token, forKey: .token)
        }
    }

    /// The field name of a kind in this form.
    public static func field(_ kind: CustomerKind) -> String {
        switch kind {
        case .organization: CodingKeys.organization.rawValue
        case .workspace: CodingKeys.workspace.rawValue
        case .key: CodingKeys.key.rawValue
        case .token: CodingKeys.token.rawValue
        }
    }
}

extension CustomerStore {
    /// Up to `limit` stored ids of a kind after `after` (exclusive), ascending bytewise.
    public func ids(of kind: CustomerKind, after: String?, limit: Int) async throws -> [String] {
        try await ids(index: keys.customerIndex(kind), after: after, limit: limit)
    }

    /// One page of a kind's stored records as they are stored (the entity's JSON, sorted keys):
    /// what an export writes without decoding them.
    public func storedRecords(_ kind: CustomerKind, after: String?, limit: Int = maximumPageSize) async throws -> Page<[UInt8]> {
        guard (1...Self.maximumPageSize).contains(limit) else { throw CustomerStoreError.invalid("limit must be between 1 and \(Self.maximumPageSize)") }
        let ids = try await ids(of: kind, after: after, limit: limit + 1)
        let pageIDs = Array(ids.prefix(limit))
        var records: [[UInt8]] = []
        if !pageIDs.isEmpty {
            var command = RedisCommand("MGET", pageIDs.map { keys.customerRecord(kind, $0) })
            command.keyIndex = 1
            command.keyCount = pageIDs.count
            // A record deleted between the two reads is left out; the cursor still moves past it.
            records = try await redis.send(command).array?.compactMap(\.bytes) ?? []
        }
        return Page(items: records, next: ids.count > limit ? pageIDs.last : nil)
    }

    /// Writes customers in batches (one `customer-write.lua` call of at most `batchSize`
    /// operations each: all or nothing per batch, so per entity), every batch refused unless the
    /// configuration document is still at the version given (`.conflict`). Batches carry no
    /// audit entry; ``finish(actor:action:reason:new:)`` writes the last one with the audit
    /// entry for the whole load. ``written`` counts what is in Redis so far, for a report when
    /// a batch fails. Memory: one batch.
    public struct BatchWriter: Sendable {
        public struct Counts: Sendable, Hashable {
            public var stored: [CustomerKind: Int] = [:]
            public var removed: [CustomerKind: Int] = [:]

            public init() {}

            public var isEmpty: Bool { stored.values.allSatisfy { $0 == 0 } && removed.values.allSatisfy { $0 == 0 } }
        }

        let store: CustomerStore
        let guardOperation: Operation
        let batchSize: Int
        var batch: [Operation] = []
        var pending = Counts()
        public private(set) var written = Counts()

        public init(store: CustomerStore, version: Int64, batchSize: Int = 500) {
            self.store = store
            guardOperation = store.versionGuard(version)
            self.batchSize = max(1, batchSize)
        }

        /// Creates or replaces one customer (its parent must be stored already or earlier in
        /// this writer; a later batch is refused `.notFound` otherwise).
        public mutating func put(_ entity: CustomerEntity) async throws {
            let operation = switch entity {
            case .organization(let organization): try store.operation(.put, .organization, organization.id, organization)
            case .workspace(let workspace): try store.operation(.put, .workspace, workspace.id, workspace)
            case .key(let key): try store.operation(.put, .key, key.id, key)
            case .token(let token): try store.operation(.put, .token, token.id, token)
            }
            try await add(operation, stored: entity.kind)
        }

        /// Deletes a customer if it exists (an organisation or workspace with its children).
        public mutating func discard(_ kind: CustomerKind, _ id: String) async throws {
            try await add(Operation(verb: .discard, kind: kind, id: id), removed: kind)
        }

        /// Replaces the set of tier names customer writes check against.
        mutating func setTiers(_ names: [String]) async throws {
            try await add(try store.operation(.put, .organization, "", names).as(.tiers))
            try await flush()
        }

        mutating func add(_ operation: Operation, stored: CustomerKind? = nil, removed: CustomerKind? = nil) async throws {
            batch.append(operation)
            if let stored { pending.stored[stored, default: 0] += 1 }
            if let removed { pending.removed[removed, default: 0] += 1 }
            if batch.count >= batchSize { try await flush() }
        }

        /// Writes the batch so far (no audit entry).
        public mutating func flush() async throws {
            guard !batch.isEmpty else { return }
            try await write(actor: "", action: "", reason: "", new: "")
        }

        /// Writes what is left with one audit entry for the whole load.
        public mutating func finish(actor: String, action: String, reason: String, new: String) async throws {
            try await write(actor: actor, action: action, reason: reason, new: new)
        }

        mutating func write(actor: String, action: String, reason: String, new: String) async throws {
            try await store.write([guardOperation] + batch, actor: actor, action: action, reason: reason, old: "", new: new)
            batch.removeAll(keepingCapacity: true)
            for (kind, count) in pending.stored { written.stored[kind, default: 0] += count }
            for (kind, count) in pending.removed { written.removed[kind, default: 0] += count }
            pending = Counts()
        }
    }
}
