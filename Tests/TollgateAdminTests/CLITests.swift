import Foundation
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct CLITests {
    /// tier → org → workspace → key → token, as an admin would set up a customer.
    static func setUpCustomer(_ cli: CLI) async throws {
        try await cli.ok(["price", "set", "test-model", "--provider", "test", "--input", "1.00", "--output", "2.00", "--cached-input", "0.50"])
        try await cli.ok(["tier", "set", "pro", "--tpm", "100000", "--rpm", "600", "--daily-budget", "25.00", "--monthly-budget", "500",
                          "--user-tpm", "20000", "--alert-thresholds", "50,80,100", "--timezone", "Europe/Berlin", "--failure-mode", "open"])
        try await cli.ok(["org", "create", "acme", "--tier", "pro", "--name", "Acme Corp"])
        try await cli.ok(["workspace", "create", "web", "--org", "acme"])
        try await cli.ok(["key", "create", "k1", "--workspace", "web", "--tpm", "5000"])
    }

    @Test func everyCommandDoesItsJob() async throws {
        let (cli, redis) = try await CLI.make()
        try await Self.setUpCustomer(cli)

        // Reads, in the three formats.
        #expect(try await cli.ok(["tier", "show", "pro"]).contains("Europe/Berlin"))
        let tiers = try await cli.ok(["tier", "list", "--json"])
        #expect(tiers.contains(#""name":"pro""#) && tiers.contains(#""failure_mode":"open""#))
        #expect(try await cli.ok(["org", "list", "--csv"]).hasPrefix("id,name,tier,overrides,suspended,workspaces\nacme,Acme Corp,pro,-,false,1"))
        #expect(try await cli.ok(["org", "show", "acme"]).contains("workspaces  web"))
        #expect(try await cli.ok(["workspace", "list", "--org", "acme"]).contains("web"))
        #expect(try await cli.ok(["key", "show", "k1"]).contains("tpm=5000"))
        #expect(try await cli.ok(["key", "list", "--org", "acme", "--json"]).contains(#""id":"k1""#))
        #expect(try await cli.ok(["price", "list"]).contains("test-model"))

        // Changes.
        try await cli.ok(["org", "set", "acme", "--daily-budget", "30.00"])
        try await cli.ok(["workspace", "set", "web", "--tier", "pro", "--rpm", "100"])
        try await cli.ok(["key", "set", "k1", "--tpm", "none", "--allowed-models", "test-*"])
        try await cli.ok(["key", "suspend", "k1", "--reason", "abuse report"])
        var configuration = try await cli.configuration(redis)
        #expect(configuration.organizations["acme"]?.overrides.dailyBudget == (try Money(decimal: "30.00")))
        #expect(configuration.workspaces["web"]?.tier == "pro" && configuration.workspaces["web"]?.overrides.rpm == 100)
        #expect(configuration.keys["k1"]?.overrides.tpm == nil && configuration.keys["k1"]?.allowedModels == ["test-*"])
        #expect(configuration.keys["k1"]?.suspended == true)
        try await cli.ok(["key", "resume", "k1"])
        try await cli.ok(["org", "suspend", "acme"])
        try await cli.ok(["org", "resume", "acme"])
        try await cli.ok(["workspace", "suspend", "web"])
        try await cli.ok(["workspace", "resume", "web"])
        configuration = try await cli.configuration(redis)
        #expect(configuration.keys["k1"]?.suspended == false && configuration.organizations["acme"]?.suspended == false)

        // Tokens: the secret is shown once and stored only as its hash.
        let created = try await cli.ok(["token", "create", "app-server-1", "--org", "acme", "--json"])
        let secret = try #require(try JSONValue.parse(created)["secret"]?.stringValue)
        configuration = try await cli.configuration(redis)
        let token = try #require(configuration.tokens.values.first { $0.name == "app-server-1" })
        #expect(token.organizations == ["acme"])
        let document = try await redis.send("GET", "\(cli.prefix):{cfg}:doc").string ?? ""
        #expect(!document.contains(secret))
        #expect(!(try await cli.ok(["token", "list"])).contains(secret))
        try await cli.ok(["token", "revoke", token.id])
        #expect(try await cli.configuration(redis).tokens[token.id]?.revoked == true)

        // Prices: a new version, a retirement, the history.
        try await cli.ok(["price", "set", "test-model", "--input", "1.50", "--output", "2.00", "--reason", "provider raised prices"])
        let show = try await cli.ok(["price", "show", "test-model"])
        #expect(show.contains("1.50") && show.contains("1.00"))
        try await cli.ok(["price", "retire", "test-model", "--effective-from", "2100-01-01"])
        #expect(try await cli.ok(["price", "history", "test-model"]).contains("provider raised prices"))
        #expect(try await cli.ok(["price", "list", "--at", "2100-01-02"]) == "(none)\n")

        // The state layout: 2 for a document written by this version, changed alone and audited.
        #expect(try await cli.ok(["config", "state-layout"]) == "2\n")
        try await cli.ok(["config", "state-layout", "1", "--reason", "gateways of the earlier version still run"])
        #expect(try await cli.configuration(redis).settings.stateLayout == .ringSlot)
        #expect(try await cli.ok(["config", "state-layout"]) == "1\n")
        #expect(try await cli.ok(["audit", "--limit", "1"]).contains("config state-layout 1"))

        // The audit log has every change, with actor and old → new.
        let audit = try await cli.ok(["audit", "--limit", "100", "--values", "--json"])
        #expect(audit.contains(#""actor":"tester""#) && audit.contains("org set acme") && audit.contains("\\\"daily_budget\\\":\\\"30.00\\\""))

        // Tier removal refuses while in use.
        let refused = try await cli.run(["tier", "rm", "pro"])
        #expect(refused.status == 65)
        #expect(refused.errors.contains("tier 'pro' is in use by"))
        try await cli.ok(["tier", "set", "spare", "--tpm", "1"])
        try await cli.ok(["tier", "rm", "spare"])
        #expect(try await cli.configuration(redis).tiers["spare"] == nil)

        try await redis.deleteKeys(prefix: cli.prefix + ":")
        await redis.shutdown()
    }

    @Test func exportImportExportIsIdentical() async throws {
        let (cli, redis) = try await CLI.make()
        try await Self.setUpCustomer(cli)
        try await cli.ok(["token", "create", "t1"])
        let first = try await cli.ok(["config", "export"])
        let file = try RedisServer.makeTemporaryDirectory() + "/config.yaml"
        try first.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await cli.ok(["config", "check", file]).hasPrefix("ok: 1 models, 1 tiers, 1 organizations, 1 workspaces, 1 keys"))

        // Into a fresh deployment, and out again.
        let (other, _) = try await CLI.make(name: "exportImportExportIsIdentical-copy")
        try await other.ok(["config", "import", file])
        let second = try await other.ok(["config", "export"])
        #expect(second == first)
        // JSON export round-trips too.
        let json = try await cli.ok(["config", "export", "--json"])
        let jsonFile = file + ".json"
        try json.write(toFile: jsonFile, atomically: true, encoding: .utf8)
        #expect(try await cli.run(["config", "check", jsonFile]).status == 0)
        try await redis.deleteKeys(prefix: cli.prefix + ":")
        try await redis.deleteKeys(prefix: other.prefix + ":")
        await redis.shutdown()
    }

    @Test func importingLiteLLMPricesIsExact() async throws {
        let (cli, redis) = try await CLI.make()
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Data/litellm-model-prices.json").path
        try #require(FileManager.default.fileExists(atPath: file), "the LiteLLM price file is missing at \(file)")
        let report = try JSONValue.parse(try await cli.ok(["price", "import", file, "--json"]))
        #expect(report["added"]?.integerValue ?? 0 > 3_000)
        #expect(report["skipped_not_per_token"]?.integerValue ?? 0 > 500)
        #expect(report["rounded"]?.integerValue ?? 0 > 0)
        let configuration = try await cli.configuration(redis)
        let now = Int64(Date().timeIntervalSince1970 * 1000) + 1_000
        func prices(_ model: String) throws -> TokenPrices { try #require(configuration.pricing.resolve(model, at: now), "\(model) missing").prices }
        // gpt-4.1: 2e-06 / 8e-06 / 5e-07 per token = 2.00 / 8.00 / 0.50 per 1M, exactly.
        #expect(try prices("gpt-4.1") == TokenPrices(input: 2_000_000_000, output: 8_000_000_000, cachedInput: 500_000_000))
        #expect(try prices("gpt-4o-mini").input == 150_000_000)
        // 15.000020000000002 per 1M (binary residue in the file) is rounded to 9 decimals.
        #expect(try prices("databricks/databricks-claude-opus-4").input == 15_000_020_000)
        // Per-image entries are not priced per token: skipped.
        #expect(configuration.pricing.entry(named: "1024-x-1024/50-steps/stability.stable-diffusion-xl-v1") == nil)
        // Re-importing the same file changes nothing.
        let again = try JSONValue.parse(try await cli.ok(["price", "import", file, "--json"]))
        #expect(again["added"]?.integerValue == 0 && again["changed"]?.integerValue == 0)
        try await redis.deleteKeys(prefix: cli.prefix + ":")
        await redis.shutdown()
    }

    @Test func badInputIsOneClearSentenceAndWritesNothing() async throws {
        let (cli, redis) = try await CLI.make()
        try await Self.setUpCustomer(cli)
        let before = try await cli.version(redis)
        let csv = try RedisServer.makeTemporaryDirectory() + "/bad.csv"
        try "model,provider,input,output\ngood,p,1.00,2.00\nbad,p,-1,2.00\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let badConfig = try RedisServer.makeTemporaryDirectory() + "/bad.yaml"
        try "settings:\n  currency: XYZ\n".write(toFile: badConfig, atomically: true, encoding: .utf8)
        let cases: [([String], Int32, String)] = [
            (["price", "show", "gpt-99"], 65, "unknown model"),
            (["price", "set", "test-model", "--input", "abc", "--output", "1"], 64, "not a valid amount"),
            (["price", "set", "test-model", "--input=-1", "--output", "1"], 64, "must not be negative"),
            (["price", "set", "test-model", "--input", "1.0000000001", "--output", "1"], 64, "decimal places"),
            (["price", "set", "new-model", "--input", "1", "--output", "1"], 64, "give its provider"),
            (["price", "set", "test-model", "--input", "1", "--output", "1", "--effective-from", "yesterday-ish"], 64, "not a date"),
            (["price", "import", csv], 64, "line 3 (bad)"),
            (["tier", "set", "pro", "--timezone", "Mars/Olympus"], 64, "not an IANA timezone"),
            (["tier", "set", "pro", "--daily-budget", "12.5.0"], 64, "not a valid amount"),
            (["tier", "set", "pro", "--tpm", "-5"], 64, "--tpm"),
            (["tier", "show", "gold"], 65, "unknown tier"),
            (["org", "create", "beta", "--tier", "gold"], 65, "unknown tier 'gold'"),
            (["org", "create", "acme", "--tier", "pro"], 65, "already exists"),
            (["org", "create", "bad id!", "--tier", "pro"], 64, "letters, digits"),
            (["workspace", "create", "w2", "--org", "nobody"], 65, "unknown organization"),
            (["key", "create", "k9", "--workspace", "nowhere"], 65, "unknown workspace"),
            (["token", "revoke", "tok_nope"], 65, "unknown token"),
            (["budget", "credit", "--org", "acme", "--period", "week", "--amount", "1", "--reason", "x"], 64, "--period"),
            (["budget", "credit", "--org", "acme", "--period", "day", "--amount", "-3", "--reason", "x"], 64, "--amount"),
            (["config", "import", badConfig], 64, "unknown currency"),
            (["config", "check", badConfig], 64, "unknown currency"),
            (["audit", "--limit", "0"], 64, "--limit"),
            (["config", "state-layout", "3"], 64, "must be 1 or 2"),
        ]
        for (arguments, status, message) in cases {
            let result = try await cli.run(arguments)
            #expect(result.status == status, "tollgate \(arguments.joined(separator: " ")): \(result.status) \(result.errors)")
            #expect(result.errors.contains(message), "tollgate \(arguments.joined(separator: " ")): \(result.errors)")
            #expect(result.errors.split(separator: "\n").first?.lowercased().hasPrefix("error") == true)
        }
        #expect(try await cli.version(redis) == before)
        try await redis.deleteKeys(prefix: cli.prefix + ":")
        await redis.shutdown()
    }

    @Test func concurrentEditsLoseNothing() async throws {
        let (cli, redis) = try await CLI.make()
        try await cli.ok(["tier", "set", "pro", "--tpm", "1000"])
        let start = try await cli.version(redis)
        // Twelve admins at once, each adding an organization and changing the shared tier.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<12 {
                group.addTask { try await cli.ok(["org", "create", "org\(index)", "--tier", "pro"]) }
            }
            try await group.waitForAll()
        }
        let configuration = try await cli.configuration(redis)
        #expect(Set(configuration.organizations.keys) == Set((0..<12).map { "org\($0)" }))
        // Customers are records, not the configuration document: its version stays; the
        // customer change stream counts twelve changes.
        #expect(try await cli.version(redis) == start)
        #expect(try await redis.send("GET", "\(cli.prefix):{cfg}:c:seq").int == 12)
        let audit = try await cli.ok(["audit", "--limit", "100", "--action", "org create", "--json"])
        #expect(audit.components(separatedBy: "org create").count - 1 == 12)
        try await redis.deleteKeys(prefix: cli.prefix + ":")
        await redis.shutdown()
    }

    @Test func aclUsersGiveEachRoleOnlyWhatItNeeds() async throws {
        let server = try await RedisServer.start()
        let prefix = "acltest"
        let cli = CLI(redisURL: server.url, prefix: prefix)
        try await cli.ok(["acl", "--admin-password", "admin-secret-1", "--gateway-password", "gateway-secret-1", "--monitor-password", "monitor-secret-1",
                        "--dashboard-password", "dashboard-secret-1", "--apply"])
        let admin = CLI(redisURL: "redis://tollgate-admin:admin-secret-1@127.0.0.1:\(server.port)", prefix: prefix)
        try await Self.setUpCustomer(admin)

        var gatewayConfiguration = server.configuration()
        gatewayConfiguration.endpoint.username = "tollgate-gateway"
        gatewayConfiguration.endpoint.password = "gateway-secret-1"
        let gateway = RedisClient(configuration: gatewayConfiguration, logger: .quiet)
        // The gateway can read the configuration and run decisions...
        let store = ConfigurationStore(redis: gateway, keys: KeyLayout(prefix: prefix))
        let loaded = try await store.load()
        // ...its customers, through the read-only look-up script and the change stream...
        let lookup = try await CustomerStore(redis: gateway, keys: KeyLayout(prefix: prefix)).lookUpKey("k1")
        let customer = try #require(lookup.key.flatMap { key in lookup.workspace.flatMap { ws in lookup.organization.map { CustomerCache.Customer(key: key, workspace: ws, organization: $0) } } })
        #expect(customer.organization.id == "acme")
        let feed = CustomerChangeFeed(store: CustomerStore(redis: gateway, keys: KeyLayout(prefix: prefix)), cache: CustomerCache(), subscriberConfiguration: gatewayConfiguration,
                                      pollInterval: .seconds(60), preloadLimit: 100, logger: .quiet)
        await feed.poll()
        #expect(feed.isStarted && feed.cache.count > 0)
        let engine = QuotaEngine(redis: gateway, keys: KeyLayout(prefix: prefix), scripts: try QuotaScripts.load())
        let plan = try loaded.configuration.plan(customer, at: Int64(Date().timeIntervalSince1970 * 1000))
        let price = try loaded.configuration.price("test-model", for: plan, at: Int64(Date().timeIntervalSince1970 * 1000))
        let decision = try await engine.reserve(ReserveRequest(requestID: "r1", model: "test-model", inputTokens: 10), plan: plan, price: price, settings: loaded.configuration.settings)
        if case .allowed = decision {} else { Issue.record("the gateway user could not reserve: \(decision)") }
        // ...but cannot rewrite prices, nor touch anything else.
        do {
            try await store.update { configuration in
                configuration.tiers["pro"]?.limits.tpm = 1
                return ConfigurationStore.Change(actor: "intruder", action: "tier set pro")
            }
            Issue.record("a gateway credential rewrote the configuration")
        } catch let error as RedisError {
            #expect(error.prefix == "NOPERM")
        }
        await #expect(throws: RedisError.self) { try await gateway.send("SET", "\(prefix):{cfg}:version", "999") }
        await #expect(throws: RedisError.self) { try await gateway.send("FLUSHALL") }
        await #expect(throws: RedisError.self) { try await gateway.send("GET", "unrelated-key") }
        #expect(try await admin.version(gateway) > 0)

        // The dashboard user reads the configuration and the live counters, and writes nothing.
        var dashboardConfiguration = server.configuration()
        dashboardConfiguration.endpoint.username = "tollgate-dashboard"
        dashboardConfiguration.endpoint.password = "dashboard-secret-1"
        let dashboard = RedisClient(configuration: dashboardConfiguration, logger: .quiet)
        let seen = try await ConfigurationStore(redis: dashboard, keys: KeyLayout(prefix: prefix)).load()
        #expect(seen.version == loaded.version)
        let reader = QuotaEngine(redis: dashboard, keys: KeyLayout(prefix: prefix), scripts: try QuotaScripts.load())
        let quota = try await reader.quota(plan: plan, settings: loaded.configuration.settings)
        #expect(quota.levels.first?.windowTokens ?? 0 > 0)
        let refused = try? await reader.reserve(ReserveRequest(requestID: "r2", model: "test-model", inputTokens: 10), plan: plan, price: price,
                                                settings: loaded.configuration.settings)
        #expect(refused == nil, "the read-only dashboard user reserved")
        await #expect(throws: RedisError.self) { try await dashboard.send("HINCRBY", "\(prefix):{p0}:ru:d:acme:20260101", "x", "1") }
        // It reads the overview's rankings and the alert log; it cannot write them.
        _ = try await dashboard.send("ZREVRANGE", "\(prefix):{p0}:ov:zo:d:20260101", 0, 9, "WITHSCORES")
        _ = try await dashboard.send("ZUNION", 2, "\(prefix):{p0}:ov:zo:d:20260101", "\(prefix):{p0}:ov:zo:d:20260102", "WITHSCORES")
        _ = try await dashboard.send("LRANGE", "\(prefix):{p0}:alog:acme", 0, -1)
        await #expect(throws: RedisError.self) { try await dashboard.send("ZINCRBY", "\(prefix):{p0}:ov:zo:d:20260101", 1, "acme") }
        // The gateway adds refusal counts; the monitor keeps the rankings and the alert log.
        _ = try await gateway.send("HINCRBY", "\(prefix):{p0}:rf:d:20260101", "tpm", 1)
        var monitorConfiguration = server.configuration()
        monitorConfiguration.endpoint.username = "tollgate-monitor"
        monitorConfiguration.endpoint.password = "monitor-secret-1"
        let monitor = RedisClient(configuration: monitorConfiguration, logger: .quiet)
        _ = try await monitor.send("ZINCRBY", "\(prefix):{p0}:ov:zo:d:20260101", 1, "acme")
        _ = try await monitor.send("LPUSH", "\(prefix):{p0}:alog:acme", "{}")
        _ = try await monitor.send("LTRIM", "\(prefix):{p0}:alog:acme", 0, 199)
        _ = try await monitor.send("HMGET", "\(prefix):{p0}:ov:d:d:20260101", "o\tacme\tcache_known")
        await monitor.shutdown()
        await #expect(throws: RedisError.self) { try await dashboard.send("SET", "\(prefix):{cfg}:version", "999") }
        await dashboard.shutdown()
        await gateway.shutdown()
        await server.stop()
    }
}
