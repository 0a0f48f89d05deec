import TollgateRedis

/// One page of a list, ordered by id.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    /// Pass as `after` for the next page; nil on the last page.
    public var next: String?

    public init(items: [Item], next: String?) {
        self.items = items
        self.next = next
    }
}

/// Keyset-paginated lists: `after` is the last id of the previous page (exclusive; nil for
/// the first page), `limit` 1...1000. Ids are ordered bytewise (ASCII), as `<` orders them.
/// An entity that exists throughout a walk appears exactly once, whatever others write.
extension CustomerStore {
    public static let maximumPageSize = 1_000

    public func organizations(after: String? = nil, limit: Int = 100) async throws -> Page<Organization> {
        try await page(.organization, index: keys.customerIndex(.organization), after: after, limit: limit)
    }

    /// Workspaces of `organization`, or of every organisation when nil.
    public func workspaces(of organization: String? = nil, after: String? = nil, limit: Int = 100) async throws -> Page<Workspace> {
        try await page(.workspace, index: organization.map(keys.organizationWorkspaces) ?? keys.customerIndex(.workspace), after: after, limit: limit)
    }

    /// Keys of `workspace` if given, else of `organization` if given, else every key.
    public func keys(ofWorkspace workspace: String? = nil, organization: String? = nil, after: String? = nil, limit: Int = 100) async throws -> Page<APIKey> {
        let index = workspace.map(keys.workspaceKeys) ?? organization.map(keys.organizationKeys) ?? keys.customerIndex(.key)
        return try await page(.key, index: index, after: after, limit: limit)
    }

    public func tokens(after: String? = nil, limit: Int = 100) async throws -> Page<ServiceToken> {
        try await page(.token, index: keys.customerIndex(.token), after: after, limit: limit)
    }

    /// Every entity of a list, page by page (for exports and reports; memory: one page).
    public func each<Item: Sendable>(_ list: (String?) async throws -> Page<Item>, _ body: (Item) async throws -> Void) async throws {
        var after: String?
        repeat {
            let page = try await list(after)
            for item in page.items { try await body(item) }
            after = page.next
        } while after != nil
    }

    func page<Entity: Decodable & Sendable>(_ kind: CustomerKind, index: String, after: String?, limit: Int) async throws -> Page<Entity> {
        guard (1...Self.maximumPageSize).contains(limit) else { throw CustomerStoreError.invalid("limit must be between 1 and \(Self.maximumPageSize)") }
        let ids = try await self.ids(index: index, after: after, limit: limit + 1)
        let more = ids.count > limit
        let pageIDs = Array(ids.prefix(limit))
        // A record deleted between the two reads is left out; the cursor still moves past it.
        return Page(items: try await records(kind, pageIDs), next: more ? pageIDs.last : nil)
    }

    /// Up to `limit` ids of a sorted-set index after `after`.
    func ids(index: String, after: String?, limit: Int) async throws -> [String] {
        let start = after.map { "(" + $0 } ?? "-"
        let reply = try await redis.send(.keyed("ZRANGE", index, start, "+", "BYLEX", "LIMIT", 0, limit))
        return (reply.array ?? []).compactMap(\.string)
    }
}

extension CustomerStore {
    /// `configuration` with every stored customer in its lists: the single-document view
    /// `config export` prints and small tools use. Memory grows with the number of customers.
    public func allCustomers(in configuration: TollgateConfiguration) async throws -> TollgateConfiguration {
        var result = configuration
        try await each({ try await organizations(after: $0, limit: Self.maximumPageSize) }) { result.organizations[$0.id] = $0 }
        try await each({ try await workspaces(after: $0, limit: Self.maximumPageSize) }) { result.workspaces[$0.id] = $0 }
        try await each({ try await keys(after: $0, limit: Self.maximumPageSize) }) { result.keys[$0.id] = $0 }
        try await each({ try await tokens(after: $0, limit: Self.maximumPageSize) }) { result.tokens[$0.id] = $0 }
        return result
    }
}
