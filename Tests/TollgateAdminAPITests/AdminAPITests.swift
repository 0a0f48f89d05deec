import AsyncHTTPClient
import Foundation
import NIOHTTP1
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// The admin API through a real `tollgate admin-api` process and a real Redis.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct AdminAPITests {
    /// A tier body with every field.
    static let fullTier = #"{"name":"pro","limits":{"tpm":50000,"rpm":100,"daily_budget":"25.00","monthly_budget":null},"user_caps":{"tpm":1000,"daily_spend":"1.50"},"allowed_models":["gpt-4*"],"default_output_tokens":512,"hold_seconds":120,"alert_thresholds":[90,50],"tpm_saturation_minutes":3,"cache_hit_alert_percent":60,"failure_mode":"open","timezone":"Europe/Berlin","fallback_price":{"input":"1.00","output":"2.00"},"reason":"launch"}"#

    @Test func tiersAreCreatedReadChangedAndDeletedWithAnAuditedActor() async throws {
        let api = try await AdminAPIProcess()
        let created = try await api.send(.POST, "/v1/tiers", body: Self.fullTier)
        #expect(created.status == .created, "\(created.text)")
        #expect(created.json?["limits"]?["daily_budget"]?.stringValue == "25.00")
        #expect(created.json?["alert_thresholds"] == .array([.number("50"), .number("90")]))
        let stored = try #require(try await api.configuration().tiers["pro"])
        #expect(stored.failureMode == .open && stored.cacheHitAlertPercent == 60 && stored.userCaps?.tpm == 1_000 && stored.fallbackPrice?.input == 1_000_000_000)
        let changed = try await api.send(.PATCH, "/v1/tiers/pro", body: #"{"limits":{"tpm":null,"rpm":200},"allowed_models":null}"#)
        #expect(changed.status == .ok, "\(changed.text)")
        let after = try #require(try await api.configuration().tiers["pro"])
        #expect(after.limits.tpm == nil && after.limits.rpm == 200 && after.limits.dailyBudget == stored.limits.dailyBudget && after.allowedModels == nil)
        #expect(try await api.send(.GET, "/v1/tiers/pro", token: .readOnly).json?["limits"]?["rpm"]?.integerValue == 200)
        // A tier an organisation uses (acme: standard) stays; an unused one goes.
        let inUse = try await api.send(.DELETE, "/v1/tiers/standard")
        #expect(inUse.status == .conflict && inUse.isClientError, "\(inUse.text)")
        #expect(try await api.send(.DELETE, "/v1/tiers/pro").status == .ok)
        let tiers = try await api.configuration().tiers
        #expect(tiers["pro"] == nil && tiers["standard"] != nil)
        // The audit log names the token of every change.
        let audit = try await api.redis.send("XRANGE", "\(api.prefix):{cfg}:audit", "-", "+")
        let entries = (audit.array ?? []).compactMap { entry -> [String: String]? in
            guard let fields = entry.array?.last?.array else { return nil }
            var row: [String: String] = [:]
            for index in stride(from: 0, to: fields.count - 1, by: 2) { row[fields[index].string ?? ""] = fields[index + 1].string ?? "" }
            return row
        }
        let mine = entries.filter { $0["action"]?.hasPrefix("tier") == true }
        #expect(mine.map { $0["action"] ?? "" } == ["tier create pro", "tier set pro", "tier rm pro"])
        #expect(mine.allSatisfy { $0["actor"] == "admin-token:atok_admin" })
        #expect(mine.first?["reason"] == "launch")
        await api.stop()
    }

    @Test func pricesAreCreatedVersionedAndRetired() async throws {
        let api = try await AdminAPIProcess()
        let created = try await api.send(.POST, "/v1/prices", body: #"{"model":"gpt-x","provider":"openai","input":"2.50","output":"10.00","cached_input":"1.25","aliases":["gpt-x-2026"],"effective_from":"2026-01-01"}"#)
        #expect(created.status == .created, "\(created.text)")
        let version = try await api.send(.POST, "/v1/prices/gpt-x/versions", body: #"{"input":"2.00","output":"8.00","effective_from":"2026-06-01T00:00:00Z"}"#)
        #expect(version.status == .created, "\(version.text)")
        let entry = try #require(try await api.configuration().pricing.entry(named: "gpt-x-2026"))
        #expect(entry.versions.map(\.prices.input) == [2_500_000_000, 2_000_000_000])
        #expect(try await api.send(.POST, "/v1/prices/gpt-x/retire", body: "{}").status == .ok)
        #expect(try await api.configuration().pricing.entry(named: "gpt-x")?.latest?.retired == true)
        let listed = try await api.send(.GET, "/v1/prices?provider=openai", token: .readOnly)
        #expect(listed.json?["data"]?.arrayCount == 1)
        #expect(try await api.send(.GET, "/v1/prices/gpt-x-2026", token: .readOnly).json?["model"]?.stringValue == "gpt-x")
        await api.stop()
    }

    @Test func scopesAreEnforced() async throws {
        let api = try await AdminAPIProcess()
        let tier = #"{"name":"scoped"}"#
        let before = try await api.version()
        for scope in [AdminToken.Scope.readOnly, .provisioner] {
            for (method, path, body) in [(HTTPMethod.POST, "/v1/tiers", tier), (.PATCH, "/v1/tiers/standard", #"{"hold_seconds":5}"#),
                                         (.DELETE, "/v1/tiers/standard", nil),
                                         (.POST, "/v1/prices", #"{"model":"m","provider":"p","input":"1","output":"1"}"#),
                                         (.POST, "/v1/prices/test-model/retire", "{}")] {
                let reply = try await api.send(method, path, body: body, token: scope)
                #expect(reply.status == .forbidden && reply.isClientError, "\(scope) \(method) \(path): \(reply.status) \(reply.text)")
            }
            #expect(try await api.send(.GET, "/v1/tiers", token: scope).status == .ok)
        }
        #expect(try await api.version() == before, "refused writes change nothing")
        let noToken = try await api.send(.GET, "/v1/tiers", token: nil)
        #expect(noToken.status == .unauthorized && noToken.isClientError && noToken.headers["WWW-Authenticate"].first == "Bearer")
        #expect(try await api.send(.GET, "/v1/tiers", token: nil, headers: [("Authorization", "Bearer nope")]).status == .unauthorized)
        #expect(try await api.send(.POST, "/v1/tiers", body: tier).status == .created)
        await api.stop()
    }

    @Test func adminTokensAreMadeByTheCLIAndRevocationIsEnforcedWithinASecond() async throws {
        let api = try await AdminAPIProcess()
        let cli = CLI(redisURL: api.redisURL, prefix: api.prefix)
        let created = try JSONValue.parse(try await cli.ok(["admin-token", "create", "signup-service", "--scope", "provisioner", "--json"]))
        let secret = try #require(created["secret"]?.stringValue)
        let id = try #require(created["id"]?.stringValue)
        #expect(try await cli.configuration(api.redis).adminTokens[id]?.sha256 == Secret.sha256Hex(secret))
        #expect(!(try await api.redis.send("GET", "\(api.prefix):{cfg}:doc").string ?? "").contains(secret), "only the hash is stored")
        let header = [("Authorization", "Bearer \(secret)")]
        #expect(try await api.send(.GET, "/v1/tiers", token: nil, headers: header).status == .ok, "a new token works at once")
        #expect(try await cli.ok(["admin-token", "list"]).contains("signup-service"))
        #expect(try await cli.run(["admin-token", "create", "x", "--scope", "root"]).status == 64)
        try await cli.ok(["admin-token", "revoke", id])
        let revoked = ContinuousClock.now
        var status = HTTPResponseStatus.ok
        while ContinuousClock.now - revoked < .seconds(1) + schedulingSlack {
            status = try await api.send(.GET, "/v1/tiers", token: nil, headers: header).status
            if status == .unauthorized { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(status == .unauthorized)
        await api.stop()
    }

    @Test func cliAndAPIWorkSideBySide() async throws {
        let api = try await AdminAPIProcess()
        let cli = CLI(redisURL: api.redisURL, prefix: api.prefix)
        try await cli.ok(["tier", "set", "from-cli", "--tpm", "1000", "--daily-budget", "5.00"])
        let read = try await api.send(.GET, "/v1/tiers/from-cli", token: .readOnly)
        #expect(read.json?["limits"]?["tpm"]?.integerValue == 1_000 && read.json?["limits"]?["daily_budget"]?.stringValue == "5.00")
        #expect(try await api.send(.POST, "/v1/tiers", body: #"{"name":"from-api","limits":{"rpm":7}}"#).status == .created)
        #expect(try await cli.ok(["tier", "show", "from-api"]).contains("rpm=7"))
        try await cli.ok(["price", "set", "test-model", "--input", "3.00", "--output", "4.00"])
        #expect(try await api.send(.GET, "/v1/prices/test-model").json?["versions"]?.arrayCount == 2)
        // The CLI refuses to delete a tier in use whoever made it, and the API says 409 the same.
        #expect(try await cli.ok(["audit"]).contains("admin-token:atok_admin"))
        await api.stop()
    }
}

extension JSONValue {
    var arrayCount: Int? {
        if case .array(let items) = self { return items.count }
        return nil
    }
}
