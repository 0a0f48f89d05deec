import Foundation
import RedisTestSupport
import Testing
@testable import TollgateCore
import TollgateRedis

/// The customer store against a real Redis (and the cluster pass): all-or-nothing writes,
/// concurrent creates, keyset pagination under writes, cascading deletes, tiers in use.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct CustomerStoreTests {
    /// A store under a fresh prefix whose configuration has tiers `pro` and `free`.
    static func make(name: String = #function) async throws -> (CustomerStore, any RedisExecutor) {
        let client = try await TestRedis.client(connections: 4)
        let keys = KeyLayout(prefix: uniquePrefix(name))
        try await ConfigurationStore(redis: client, keys: keys).update { configuration in
            configuration.tiers = ["pro": Tier(name: "pro", limits: Limits(tpm: 1_000)), "free": Tier(name: "free", limits: Limits(tpm: 10))]
            return ConfigurationStore.Change(actor: "test", action: "tiers")
        }
        return (try await CustomerStore.open(redis: client, keys: keys), client)
    }

    /// Every key under the store's prefix with its type and content: the whole state.
    static func state(_ store: CustomerStore, _ client: any RedisExecutor) async throws -> [String: String] {
        var state: [String: String] = [:]
        for name in try await client.allKeys(prefix: store.keys.prefix + ":") {
            let type = try await client.send(.keyed("TYPE", name)).string ?? ""
            let content: RedisReply = switch type {
            case "string": try await client.send(.keyed("GET", name))
            case "zset": try await client.send(.keyed("ZRANGE", name, 0, -1))
            case "set": try await client.send(.keyed("SMEMBERS", name))
            case "hash": try await client.send(.keyed("HGETALL", name))
            case "stream": try await client.send(.keyed("XLEN", name))
            default: .null
            }
            state[name] = "\(type) \(content)"
        }
        return state
    }

    @Test func createFailingAtItsThirdEntityLeavesNothingBehind() async throws {
        let (store, client) = try await Self.make()
        defer { Task { await client.shutdown() } }
        try await store.createOrganization(Organization(id: "first", tier: "pro"), workspace: Workspace(id: "first-ws", organization: "first"),
                                           key: APIKey(id: "taken", workspace: "first-ws"), actor: "test")
        let before = try await Self.state(store, client)

        // The third entity's id is taken: the organisation and workspace before it must not stay.
        let error = await #expect(throws: CustomerStoreError.self) {
            try await store.createOrganization(Organization(id: "second", tier: "pro"), workspace: Workspace(id: "second-ws", organization: "second"),
                                               key: APIKey(id: "taken", workspace: "second-ws"), actor: "test")
        }
        #expect(error?.code == .alreadyExists)
        #expect(error?.kind == .key && error?.id == "taken")
        // An unknown tier on the second entity, likewise.
        let tierError = await #expect(throws: CustomerStoreError.self) {
            try await store.createOrganization(Organization(id: "third", tier: "pro"), workspace: Workspace(id: "third-ws", organization: "third", tier: "gold"),
                                               actor: "test")
        }
        #expect(tierError?.code == .unknownTier && tierError?.id == "gold")
        #expect(try await Self.state(store, client) == before)
        #expect(try await store.organization("second") == nil)
    }

    @Test func hundredConcurrentCreatesAreAllKept() async throws {
        let (store, client) = try await Self.make()
        defer { Task { await client.shutdown() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<100 {
                group.addTask {
                    try await store.createOrganization(Organization(id: "org\(index)", tier: "free"), workspace: Workspace(id: "ws\(index)", organization: "org\(index)"),
                                                       key: APIKey(id: "key\(index)", workspace: "ws\(index)"), actor: "load")
                }
            }
            try await group.waitForAll()
        }
        var seen: [String] = []
        try await store.each({ try await store.organizations(after: $0, limit: 7) }) { seen.append($0.id) }
        #expect(seen == (0..<100).map { "org\($0)" }.sorted())
        #expect(try await store.count(.workspace) == 100)
        #expect(try await store.count(.key) == 100)
        #expect(try await store.sequence() == 300)
        #expect(try await store.usage(ofTier: "free") == 100)
        let lookup = try await store.lookUpKey("key42")
        #expect(lookup.organization?.id == "org42" && lookup.workspace?.id == "ws42")
    }

    @Test func pagesWalkEveryStableEntityOnceWhileOthersWrite() async throws {
        let (store, client) = try await Self.make()
        defer { Task { await client.shutdown() } }
        for index in 0..<60 { try await store.createOrganization(Organization(id: String(format: "s%03d", index), tier: "pro"), actor: "test") }
        // Others create and delete organisations between the stable ones while the walk runs.
        async let churn: Void = {
            for index in 0..<60 {
                let id = String(format: "s%03d-x", index)
                try await store.createOrganization(Organization(id: id, tier: "pro"), actor: "churn")
                if index.isMultiple(of: 2) { try await store.deleteOrganization(id, actor: "churn") }
            }
        }()
        var seen: [String] = []
        try await store.each({ after in
            try await Task.sleep(for: .milliseconds(2))
            return try await store.organizations(after: after, limit: 5)
        }) { seen.append($0.id) }
        try await churn
        let stable = seen.filter { !$0.hasSuffix("-x") }
        #expect(stable == (0..<60).map { String(format: "s%03d", $0) })
        #expect(Set(seen).count == seen.count)
    }

    @Test func deleteCascadesAndTiersInUseCannotBeRemoved() async throws {
        let (store, client) = try await Self.make()
        defer { Task { await client.shutdown() } }
        try await store.createOrganization(Organization(id: "acme", tier: "pro"), workspace: Workspace(id: "web", organization: "acme", tier: "free"),
                                           key: APIKey(id: "k1", workspace: "web"), actor: "test")
        try await store.createKey(APIKey(id: "k2", workspace: "web"), actor: "test")
        #expect(try await store.keys(organization: "acme").items.map(\.id) == ["k1", "k2"])
        #expect(try await store.tree(of: "acme")?.keys.count == 2)

        // A tier in use refuses to go; nothing changes.
        let configurations = ConfigurationStore(redis: client, keys: store.keys)
        await #expect(throws: ConfigurationStore.StoreError.self) {
            try await configurations.update { configuration in
                configuration.tiers["free"] = nil
                return ConfigurationStore.Change(actor: "test", action: "tier rm free")
            }
        }
        #expect(try await configurations.load().configuration.tiers["free"] != nil)

        let suspended = try await store.setSuspended(true, .key, "k1", actor: "ops", reason: "abuse")
        #expect(suspended)
        #expect(try await store.key("k1")?.suspended == true)
        await #expect(throws: CustomerStoreError.self) { try await store.updateWorkspace("web", actor: "test") { $0.organization = "other" } }

        try await store.deleteOrganization("acme", actor: "test")
        for kind in [CustomerKind.organization, .workspace, .key] { #expect(try await store.count(kind) == 0) }
        #expect(try await store.lookUpKey("k1").key == nil)
        #expect(try await store.usage(ofTier: "free") == 0)
        #expect(try await store.usage(ofTier: "pro") == 0)
        // Now unused, the tier may go.
        try await configurations.update { configuration in
            configuration.tiers["free"] = nil
            return ConfigurationStore.Change(actor: "test", action: "tier rm free")
        }
    }

    @Test func tokensAreFoundByHashAndRevoked() async throws {
        let (store, client) = try await Self.make()
        defer { Task { await client.shutdown() } }
        let hash = String(repeating: "ab", count: 32)
        try await store.createToken(ServiceToken(id: "tok1", name: "app", sha256: hash, createdAt: 1), actor: "test")
        await #expect(throws: CustomerStoreError.self) {
            try await store.createToken(ServiceToken(id: "tok2", name: "app", sha256: hash, createdAt: 1), actor: "test")
        }
        #expect(try await store.token(withHash: hash)?.id == "tok1")
        try await store.updateToken("tok1", actor: "test") { $0.revoked = true }
        #expect(try await store.token(withHash: hash)?.revoked == true)
        let audit = try await client.send(.keyed("XREVRANGE", store.keys.audit, "+", "-", "COUNT", 1)).description
        #expect(audit.contains("token set tok1") && !audit.contains(hash))
    }

    /// A flood of one unknown key costs one look-up while its negative entry lives; creating
    /// the key replaces the entry at once (the change feed); an entry older than its TTL is
    /// looked up again. Counted on a server of its own (INFO commandstats).
    @Test func unknownKeysAreRememberedBriefly() async throws {
        let server = try await RedisServer.start()
        let client = server.client(connections: 2)
        defer { Task { await client.shutdown(); await server.stop() } }
        let keys = KeyLayout(prefix: "neg")
        try await ConfigurationStore(redis: client, keys: keys).update { configuration in
            configuration.tiers = ["pro": Tier(name: "pro", limits: Limits(tpm: 1_000))]
            return ConfigurationStore.Change(actor: "test", action: "tiers")
        }
        let store = try await CustomerStore.open(redis: client, keys: keys)
        try await store.createOrganization(Organization(id: "acme", tier: "pro"), workspace: Workspace(id: "web", organization: "acme"), actor: "test")
        let cache = CustomerCache(capacity: 100, negativeTTL: .milliseconds(300))
        let feed = CustomerChangeFeed(store: store, cache: cache, subscriberConfiguration: server.configuration(), pollInterval: .seconds(60), logger: .quiet)
        await feed.poll()
        #expect(feed.isStarted)

        func lookUps() async throws -> Int {
            let stats = try await client.send("INFO", "commandstats").string ?? ""
            let line = stats.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_evalsha_ro:") } ?? ""
            return Int(line.split(separator: ",").first?.split(separator: "=").last ?? "0") ?? 0
        }
        _ = try await store.lookUpKey("warm-up")  // loads the script (NOSCRIPT, then EVALSHA)
        let before = try await lookUps()
        for _ in 0..<50 { #expect(try await cache.customer(key: "nope", store: store) == nil) }
        #expect(try await lookUps() - before == 1)

        try await store.createKey(APIKey(id: "nope", workspace: "web"), actor: "test")
        await feed.poll()
        #expect(try await cache.customer(key: "nope", store: store)?.organization.id == "acme")
        let cached = try await lookUps()
        for _ in 0..<20 { #expect(try await cache.customer(key: "nope", store: store) != nil) }
        #expect(try await lookUps() == cached)

        // Expired: asked again.
        #expect(try await cache.customer(key: "other", store: store) == nil)
        try await Task.sleep(for: .milliseconds(400))
        let expired = try await lookUps()
        #expect(try await cache.customer(key: "other", store: store) == nil)
        #expect(try await lookUps() - expired == 1)
    }

    /// The cache holds at most its capacity, however many customers pass through it.
    @Test func theCacheStaysWithinItsCapacity() async throws {
        let (store, client) = try await Self.make()
        defer { Task { await client.shutdown() } }
        try await store.createOrganization(Organization(id: "acme", tier: "pro"), workspace: Workspace(id: "web", organization: "acme"), actor: "test")
        for index in 0..<300 { try await store.createKey(APIKey(id: "k\(index)", workspace: "web"), actor: "test") }
        let cache = CustomerCache(capacity: 50)
        cache.reset(at: try await store.sequence())
        for index in 0..<300 { #expect(try await cache.customer(key: "k\(index)", store: store)?.key.id == "k\(index)") }
        #expect(cache.count <= 3 * 50)
    }

    /// A deployment from before the store: its document (as the old config-write left it, no
    /// tier set) holds every customer. Two processes open the store at once: the customers
    /// become records exactly once, the document loses them, and opening again changes nothing.
    @Test func anOldSingleDocumentIsMigratedOnceWhenTwoOpenAtOnce() async throws {
        let client = try await TestRedis.client(connections: 4)
        defer { Task { await client.shutdown() } }
        let keys = KeyLayout(prefix: uniquePrefix())
        var legacy = TollgateConfiguration(tiers: [Tier(name: "pro", limits: Limits(tpm: 1_000)), Tier(name: "free", limits: Limits(tpm: 10))])
        for index in 0..<300 {
            legacy.organizations["o\(index)"] = Organization(id: "o\(index)", tier: index.isMultiple(of: 2) ? "pro" : "free")
            legacy.workspaces["w\(index)"] = Workspace(id: "w\(index)", organization: "o\(index)")
            legacy.keys["k\(index)"] = APIKey(id: "k\(index)", workspace: "w\(index)", overrides: Limits(dailyBudget: try Money(decimal: "2.50")))
        }
        legacy.tokens["t1"] = ServiceToken(id: "t1", name: "app", sha256: String(repeating: "cd", count: 32), createdAt: 5)
        _ = try await client.send(.keyed("SET", keys.configurationDocument, Array(try legacy.encodeJSON())))
        _ = try await client.send(.keyed("SET", keys.configurationVersion, 7))

        async let first = CustomerStore.open(redis: client, keys: keys)
        async let second = CustomerStore.open(redis: client, keys: keys)
        let store = try await first
        _ = try await second

        let loaded = try await ConfigurationStore(redis: client, keys: keys).load()
        #expect(!loaded.configuration.carriesCustomers)
        #expect(loaded.configuration.tiers.count == 2)
        #expect(try await store.count(.organization) == 300)
        #expect(try await store.count(.key) == 300)
        #expect(try await store.usage(ofTier: "pro") == 150)
        #expect(try await store.lookUpKey("k7").organization?.id == "o7")
        #expect(try await store.key("k7")?.overrides.dailyBudget == (try Money(decimal: "2.50")))
        #expect(try await store.token(withHash: String(repeating: "cd", count: 32))?.id == "t1")
        // Everything as it was: the whole-document view equals the old document.
        #expect(try await store.allCustomers(in: loaded.configuration) == legacy)

        func migrations() async throws -> Int {
            let reply = try await client.send(.keyed("XRANGE", keys.audit, "-", "+"))
            let entries = reply.description
            return entries.components(separatedBy: "customers moved from the configuration document").count - 1
        }
        #expect(try await migrations() == 1)
        let version = loaded.version
        _ = try await CustomerStore.open(redis: client, keys: keys)
        #expect(try await migrations() == 1)
        #expect(try await ConfigurationStore(redis: client, keys: keys).load().version == version)
        // New customers need the tiers the migration put in place.
        try await store.createOrganization(Organization(id: "new", tier: "free"), actor: "test")
    }

    /// A burst of changes reaches the cache in a few reads: after a read the feed waits its
    /// `readGap`, so the notices arriving meanwhile are read together. Counted on a server of
    /// its own (INFO commandstats); bounded by the time the burst took over the gap, plus two.
    @Test func aBurstOfChangesIsReadInAFewReads() async throws {
        let server = try await RedisServer.start()
        let client = server.client(connections: 2)
        do {
            let keys = KeyLayout(prefix: "burst")
            try await ConfigurationStore(redis: client, keys: keys).update { configuration in
                configuration.tiers = ["pro": Tier(name: "pro", limits: Limits(tpm: 1_000))]
                return ConfigurationStore.Change(actor: "test", action: "tiers")
            }
            let store = try await CustomerStore.open(redis: client, keys: keys)
            try await store.createOrganization(Organization(id: "acme", tier: "pro"), actor: "test")
            let gap: Duration = .milliseconds(200)
            let cache = CustomerCache(capacity: 100)
            let feed = CustomerChangeFeed(store: store, cache: cache, subscriberConfiguration: server.configuration(), pollInterval: .seconds(60),
                                          readGap: gap, logger: .quiet)
            func reads() async throws -> Int {
                let stats = try await client.send("INFO", "commandstats").string ?? ""
                let line = stats.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_xrange:") } ?? ""
                return Int(line.split(separator: ",").first?.split(separator: "=").last ?? "0") ?? 0
            }
            /// Until the cache has applied `sequence` (5 s at most); whether it did.
            func applied(_ sequence: Int64) async throws -> Bool {
                let start = ContinuousClock.now
                while ContinuousClock.now - start < .seconds(5) + schedulingSlack {
                    if (cache.applied ?? 0) >= sequence { return true }
                    try await Task.sleep(for: .milliseconds(5))
                }
                return false
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await feed.run() }
                // Changes until one arrives by its notice (the subscription is in place; 50 at most).
                var subscribed = false
                for index in 0..<50 where !subscribed {
                    try await store.updateOrganization("acme", actor: "test") { $0.name = "probe \(index)" }
                    subscribed = try await applied(try await store.sequence())
                }
                #expect(subscribed)
                try await Task.sleep(for: gap)
                let before = try await reads()
                let started = ContinuousClock.now
                for index in 0..<100 { try await store.updateOrganization("acme", actor: "test") { $0.name = "burst \(index)" } }
                #expect(try await applied(try await store.sequence()))
                let took = ContinuousClock.now - started
                let bound = Int(took / gap) + 2
                #expect(try await reads() - before <= bound, "100 changes in \(took)")
                group.cancelAll()
            }
        } catch {
            await client.shutdown()
            await server.stop()
            throw error
        }
        await client.shutdown()
        await server.stop()
    }

}
