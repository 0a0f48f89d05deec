import Foundation
import Synchronization

/// The customers one process has needed lately: API keys with their workspaces and
/// organisations, and service tokens by hash — bounded, so memory does not grow with the
/// number of customers, and kept correct by ``CustomerChangeFeed``, which removes whatever a
/// change touches. A miss costs one round trip (``CustomerStore/lookUpKey(_:)``); an unknown
/// key or token is remembered as unknown for ``negativeTTL``, so a flood of bad keys does not
/// reach Redis.
///
/// A looked-up answer is kept only if it is at least as new as every change already applied
/// (its sequence number), so a change that lands while a miss is in flight is never lost.
public final class CustomerCache: Sendable {
    /// An API key resolved to everything a plan needs.
    public struct Customer: Sendable, Hashable {
        public var key: APIKey
        public var workspace: Workspace
        public var organization: Organization

        public init(key: APIKey, workspace: Workspace, organization: Organization) {
            self.key = key
            self.workspace = workspace
            self.organization = organization
        }
    }

    enum Cached<Value: Sendable>: Sendable {
        case known(Value)
        case unknown(until: ContinuousClock.Instant)
    }

    struct State {
        var keys: BoundedMap<Cached<APIKey>>
        var workspaces: BoundedMap<Workspace>
        var organizations: BoundedMap<Organization>
        var tokens: BoundedMap<Cached<ServiceToken>>
        /// The sequence number of the last change applied; nil until the feed has started
        /// (until then nothing is kept).
        var applied: Int64?
    }

    public let capacity: Int
    public let negativeTTL: Duration
    private let state: Mutex<State>

    /// - Parameters:
    ///   - capacity: entries per kind (keys, workspaces, organisations, tokens), at most.
    ///   - negativeTTL: how long an unknown key or token is answered from memory.
    public init(capacity: Int = 100_000, negativeTTL: Duration = .seconds(5)) {
        self.capacity = max(2, capacity)
        self.negativeTTL = negativeTTL
        state = Mutex(State(keys: BoundedMap(capacity: self.capacity), workspaces: BoundedMap(capacity: self.capacity),
                            organizations: BoundedMap(capacity: self.capacity), tokens: BoundedMap(capacity: self.capacity)))
    }

    /// What the cache says about an API key: nil when it does not know (look it up).
    public enum Answer<Value: Sendable>: Sendable {
        case found(Value)
        case unknown
    }

    public func key(_ id: String) -> Answer<Customer>? {
        state.withLock { state -> Answer<Customer>? in
            switch state.keys.get(id) {
            case nil: return nil
            case .unknown(let until)?:
                if until > .now { return .unknown }
                state.keys.remove(id)
                return nil
            case .known(let key)?:
                guard let workspace = state.workspaces.get(key.workspace), let organization = state.organizations.get(workspace.organization) else { return nil }
                return .found(Customer(key: key, workspace: workspace, organization: organization))
            }
        }
    }

    public func token(sha256: String) -> Answer<ServiceToken>? {
        state.withLock { state -> Answer<ServiceToken>? in
            switch state.tokens.get(sha256) {
            case nil: return nil
            case .unknown(let until)?:
                if until > .now { return .unknown }
                state.tokens.remove(sha256)
                return nil
            case .known(let token)?: return .found(token)
            }
        }
    }

    /// Keeps a looked-up key (nil members: unknown) if no newer change was applied already.
    /// Returns the customer, complete, or nil when the key is unknown.
    @discardableResult
    public func keep(_ lookup: CustomerStore.KeyLookup, id: String) -> Customer? {
        let customer: Customer? = if let key = lookup.key, let workspace = lookup.workspace, let organization = lookup.organization,
                                     key.workspace == workspace.id, workspace.organization == organization.id {
            Customer(key: key, workspace: workspace, organization: organization)
        } else {
            nil
        }
        let expiry = ContinuousClock.now + negativeTTL
        state.withLock { state in
            guard let applied = state.applied, lookup.sequence >= applied else { return }
            if let customer {
                state.keys.insert(id, .known(customer.key))
                state.workspaces.insert(customer.workspace.id, customer.workspace)
                state.organizations.insert(customer.organization.id, customer.organization)
            } else {
                state.keys.insert(id, .unknown(until: expiry))
            }
        }
        return customer
    }

    public func keep(token: ServiceToken?, sha256: String, sequence: Int64) {
        let expiry = ContinuousClock.now + negativeTTL
        state.withLock { state in
            guard let applied = state.applied, sequence >= applied else { return }
            state.tokens.insert(sha256, token.map { .known($0) } ?? .unknown(until: expiry))
        }
    }

    /// The customer behind API key `id`: from memory, or looked up (one round trip) and kept.
    /// Nil when the key, its workspace or its organisation does not exist.
    public func customer(key id: String, store: CustomerStore) async throws -> Customer? {
        switch key(id) {
        case .found(let customer)?: return customer
        case .unknown?: return nil
        case nil: return keep(try await store.lookUpKey(id), id: id)
        }
    }

    /// The service token whose secret hashes to `sha256` (revoked ones too: check `revoked`).
    public func token(sha256: String, store: CustomerStore) async throws -> ServiceToken? {
        switch token(sha256: sha256) {
        case .found(let token)?: return token
        case .unknown?: return nil
        case nil:
            let (token, sequence) = try await store.lookUpToken(sha256: sha256)
            keep(token: token, sha256: sha256, sequence: sequence)
            return token
        }
    }

    /// An organisation (the monitor needs its tier's timezone): from memory, or read and kept.
    public func organization(_ id: String, store: CustomerStore) async throws -> Organization? {
        if let known = state.withLock({ $0.organizations.get(id) }) { return known }
        let (organization, sequence) = try await store.lookUpOrganization(id)
        if let organization {
            state.withLock { state in
                guard let applied = state.applied, sequence >= applied else { return }
                state.organizations.insert(id, organization)
            }
        }
        return organization
    }

    // MARK: Applying changes (the feed)

    /// The last change applied, nil before the feed started.
    public var applied: Int64? { state.withLock { $0.applied } }

    /// Starts (or restarts) at `sequence` with nothing cached.
    func reset(at sequence: Int64) {
        state.withLock { state in
            state.keys.removeAll()
            state.workspaces.removeAll()
            state.organizations.removeAll()
            state.tokens.removeAll()
            state.applied = sequence
        }
    }

    /// Applies changes in order; false when one does not follow the last one applied (the
    /// caller then resets: the cache may have missed a change).
    func apply(_ changes: [CustomerChange]) -> Bool {
        state.withLock { state in
            guard var applied = state.applied else { return false }
            for change in changes {
                guard change.sequence == applied + 1 else { return false }
                switch change.kind {
                case .key: state.keys.remove(change.id)
                case .workspace: state.workspaces.remove(change.id)
                case .organization: state.organizations.remove(change.id)
                case .token: state.tokens.remove(change.id)
                }
                applied = change.sequence
                state.applied = applied
            }
            return true
        }
    }

    /// Entries held now, all kinds together (for metrics and tests).
    public var count: Int {
        state.withLock { $0.keys.count + $0.workspaces.count + $0.organizations.count + $0.tokens.count }
    }
}

/// One entry of the change stream: which entity changed (a token by its hash).
public struct CustomerChange: Sendable, Hashable {
    public var sequence: Int64
    public var kind: CustomerKind
    public var id: String
}

/// A map of at most `capacity` entries that forgets the least recently used half at a time:
/// new entries go to the current generation; when it is full it becomes the previous one
/// (the old previous one is dropped); a hit in the previous generation moves to the current.
struct BoundedMap<Value> {
    private var current: [String: Value] = [:]
    private var previous: [String: Value] = [:]
    private let generation: Int

    init(capacity: Int) { generation = max(1, capacity / 2) }

    var count: Int { current.count + previous.count }

    mutating func get(_ key: String) -> Value? {
        if let value = current[key] { return value }
        guard let value = previous.removeValue(forKey: key) else { return nil }
        insert(key, value)
        return value
    }

    mutating func insert(_ key: String, _ value: Value) {
        current[key] = value
        if current.count >= generation {
            previous = current
            current = [:]
        }
    }

    mutating func remove(_ key: String) {
        current.removeValue(forKey: key)
        previous.removeValue(forKey: key)
    }

    mutating func removeAll() {
        current = [:]
        previous = [:]
    }
}
