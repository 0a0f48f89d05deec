import AsyncHTTPClient
import Foundation
import NIOHTTP1
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// Organisations, workspaces, keys and service tokens through the admin API, on the customer
/// store, with a real `tollgate admin-api` and a real Redis.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct AdminAPICustomerTests {
    @Test func anOrganizationIsCreatedWithItsWorkspaceAndKeyInOneCall() async throws {
        let api = try await AdminAPIProcess()
        let created = try await api.send(.POST, "/v1/organizations", body: #"{"id":"globex","name":"Globex","tier":"standard","overrides":{"daily_budget":"10.00"},"workspace":{"id":"globex-web"},"key":{"allowed_models":["gpt-4*"]},"reason":"signup"}"#, token: .provisioner)
        #expect(created.status == .created, "\(created.text)")
        let keyID = try #require(created.json?["key"]?["id"]?.stringValue)
        #expect(keyID.hasPrefix("key_") && keyID.count == 28)
        let lookup = try await api.customers.lookUpKey(keyID)
        #expect(lookup.organization?.id == "globex" && lookup.workspace?.id == "globex-web" && lookup.key?.allowedModels == ["gpt-4*"])
        #expect(lookup.organization?.overrides.dailyBudget == (try Money(decimal: "10.00")))
        let audit = try await api.redis.send("XREVRANGE", "\(api.prefix):{cfg}:audit", "+", "-", "COUNT", 1)
        let fields = audit.array?.first?.array?.last?.array?.compactMap(\.string) ?? []
        #expect(fields.contains("admin-token:atok_provisioner") && fields.contains("signup"), "\(fields)")
        await api.stop()
    }

    @Test func aCreateThatFailsHalfwayLeavesNothingBehind() async throws {
        let api = try await AdminAPIProcess()
        let before = try await api.state()
        // The key id is taken (k1): neither the organisation nor its workspace may be left.
        let refused = try await api.send(.POST, "/v1/organizations", body: #"{"id":"initech","tier":"standard","workspace":{"id":"initech-web"},"key":{"id":"k1"}}"#)
        #expect(refused.status == .conflict && refused.isClientError, "\(refused.text)")
        let unknownTier = try await api.send(.POST, "/v1/organizations", body: #"{"id":"initech","tier":"platinum","workspace":{"id":"initech-web"}}"#)
        #expect(unknownTier.status == .conflict && unknownTier.text.contains("unknown_tier"), "\(unknownTier.text)")
        #expect(try await api.customers.organization("initech") == nil)
        #expect(try await api.customers.workspace("initech-web") == nil)
        #expect(try await api.state() == before)
        await api.stop()
    }

    @Test func customersAreReadChangedSuspendedAndDeleted() async throws {
        let api = try await AdminAPIProcess()
        #expect(try await api.send(.GET, "/v1/organizations/acme", token: .readOnly).json?["tier"]?.stringValue == "standard")
        let changed = try await api.send(.PATCH, "/v1/organizations/acme", body: #"{"name":"ACME Corp","overrides":{"tpm":500}}"#, token: .provisioner)
        #expect(changed.status == .ok && changed.json?["overrides"]?["tpm"]?.integerValue == 500, "\(changed.text)")
        // A tier that does not exist: 409 (a 404 would say the organisation is gone), nothing changed.
        let unknownTier = try await api.send(.PATCH, "/v1/organizations/acme", body: #"{"tier":"platinum"}"#, token: .provisioner)
        #expect(unknownTier.status == .conflict && unknownTier.json?["error"]?["field"]?.stringValue == "tier", "\(unknownTier.text)")
        #expect(try await api.send(.GET, "/v1/organizations/acme", token: .readOnly).json?["tier"]?.stringValue == "standard")
        #expect(try await api.send(.POST, "/v1/workspaces", body: #"{"id":"api","organization":"acme","tier":"standard"}"#, token: .provisioner).status == .created)
        #expect(try await api.send(.PATCH, "/v1/workspaces/api", body: #"{"tier":null}"#, token: .provisioner).json?["tier"] == nil)
        #expect(try await api.send(.POST, "/v1/keys", body: #"{"id":"k2","workspace":"api","name":"batch"}"#, token: .provisioner).status == .created)
        #expect(try await api.send(.PATCH, "/v1/keys/k2", body: #"{"allowed_models":["o3"]}"#, token: .provisioner).json?["allowed_models"] == .array([.string("o3")]))
        let suspended = try await api.send(.POST, "/v1/keys/k2/suspend", body: #"{"reason":"abuse"}"#, token: .provisioner)
        #expect(suspended.json?["suspended"] == .bool(true), "\(suspended.text)")
        #expect(try await api.customers.key("k2")?.suspended == true)
        #expect(try await api.send(.POST, "/v1/keys/k2/resume", body: "{}", token: .provisioner).json?["suspended"] == .bool(false))
        #expect(try await api.send(.POST, "/v1/organizations/acme/suspend", body: "{}", token: .provisioner).json?["suspended"] == .bool(true))
        let keys = try await api.send(.GET, "/v1/keys?organization=acme", token: .readOnly)
        #expect(keys.json?["data"]?.arrayCount == 2, "\(keys.text)")
        #expect(try await api.send(.GET, "/v1/workspaces?organization=acme", token: .readOnly).json?["data"]?.arrayCount == 2)
        // Deleting the organisation takes its workspaces and keys with it.
        #expect(try await api.send(.DELETE, "/v1/organizations/acme", token: .provisioner).status == .ok)
        #expect(try await api.customers.key("k2") == nil)
        #expect(try await api.customers.workspace("web") == nil)
        #expect(try await api.send(.GET, "/v1/keys/k1", token: .readOnly).status == .notFound)
        await api.stop()
    }

    @Test func aServiceTokenSecretIsShownOnceAndNeverItsHash() async throws {
        let api = try await AdminAPIProcess()
        let created = try await api.send(.POST, "/v1/service-tokens", body: #"{"name":"web-backend","organizations":["acme"]}"#, token: .provisioner)
        #expect(created.status == .created, "\(created.text)")
        let secret = try #require(created.json?["secret"]?.stringValue)
        let id = try #require(created.json?["id"]?.stringValue)
        #expect(try await api.customers.token(id)?.sha256 == Secret.sha256Hex(secret))
        let shown = try await api.send(.GET, "/v1/service-tokens/\(id)", token: .readOnly)
        let listed = try await api.send(.GET, "/v1/service-tokens", token: .readOnly)
        for reply in [shown, listed] {
            #expect(reply.status == .ok)
            #expect(!reply.text.contains(secret) && !reply.text.contains(Secret.sha256Hex(secret)) && !reply.text.contains("sha256"), "\(reply.text)")
        }
        #expect(shown.json?["organizations"] == .array([.string("acme")]))
        #expect(try await api.send(.POST, "/v1/service-tokens/\(id)/revoke", body: "{}", token: .provisioner).json?["revoked"] == .bool(true))
        #expect(try await api.customers.token(id)?.revoked == true)
        await api.stop()
    }

    @Test func scopesAreEnforcedOnCustomers() async throws {
        let api = try await AdminAPIProcess()
        let before = try await api.state()
        for (method, path, body) in [(HTTPMethod.POST, "/v1/organizations", #"{"id":"x","tier":"standard"}"#), (.PATCH, "/v1/organizations/acme", "{}"),
                                     (.DELETE, "/v1/organizations/acme", nil), (.POST, "/v1/organizations/acme/suspend", "{}"),
                                     (.POST, "/v1/keys", #"{"workspace":"web"}"#), (.POST, "/v1/service-tokens", #"{"name":"t"}"#)] {
            let reply = try await api.send(method, path, body: body, token: .readOnly)
            #expect(reply.status == .forbidden && reply.isClientError, "\(method) \(path): \(reply.status)")
        }
        #expect(try await api.state() == before)
        #expect(try await api.send(.GET, "/v1/organizations", token: .readOnly).status == .ok)
        #expect(try await api.send(.POST, "/v1/organizations", body: #"{"id":"x","tier":"standard"}"#, token: .provisioner).status == .created)
        await api.stop()
    }

    @Test func concurrentCreatesLoseNoneAndAnIdempotentRetryCreatesOnce() async throws {
        let api = try await AdminAPIProcess()
        // 50 different organisations at once: all created.
        let statuses = try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { group in
            for index in 0..<50 {
                group.addTask { try await api.send(.POST, "/v1/organizations", body: "{\"id\":\"c\(index)\",\"tier\":\"standard\"}", token: .provisioner).status }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == .created })
        #expect(try await api.customers.count(.organization) == 51)
        // One create with a generated key id, retried 12 times at once: one key.
        let body = #"{"id":"hooli","tier":"standard","workspace":{"id":"hooli-ws"},"key":{}}"#
        let replies = try await withThrowingTaskGroup(of: AdminAPIProcess.Reply.self) { group in
            for _ in 0..<12 { group.addTask { try await api.send(.POST, "/v1/organizations", body: body, token: .provisioner, headers: [("Idempotency-Key", "signup-42")]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.allSatisfy { $0.status == .created } && Set(replies.map(\.text)).count == 1, "\(replies.map(\.status))")
        #expect(try await api.customers.keys(ofWorkspace: "hooli-ws").items.count == 1)
        await api.stop()
    }

    @Test func anOrganizationWalkSeesEachOnceWhileOthersAreWritten() async throws {
        let api = try await AdminAPIProcess()
        let names = (0..<120).map { String(format: "o%03d", $0) }
        for name in names { _ = try await api.customers.createOrganization(Organization(id: name, tier: "standard"), actor: "test") }
        let writer = Task {
            for round in 0..<60 where !Task.isCancelled {
                let name = String(format: "o%03d_%d", (round * 41) % 120, round)
                _ = try await api.send(.POST, "/v1/organizations", body: "{\"id\":\"\(name)\",\"tier\":\"standard\"}", token: .provisioner)
                if round % 2 == 1 { _ = try await api.send(.DELETE, "/v1/organizations/\(name)", token: .provisioner) }
            }
        }
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let reply = try await api.send(.GET, "/v1/organizations?limit=9" + (cursor.map { "&cursor=\($0)" } ?? ""), token: .readOnly)
            guard case .array(let items) = reply.json?["data"] else { Issue.record("no data: \(reply.text)"); break }
            seen += items.compactMap { $0["id"]?.stringValue }
            cursor = reply.json?["next_cursor"]?.stringValue
            pages += 1
        } while cursor != nil && pages < 1_000
        try await writer.value
        #expect(seen.filter { names.contains($0) } == names, "each of the \(names.count) exactly once, in order")
        #expect(Set(seen).count == seen.count)
        await api.stop()
    }

    @Test func budgetsAreCorrectedWithAnAuditedReasonAndUsageIsReported() async throws {
        let api = try await AdminAPIProcess()
        let credited = try await api.send(.POST, "/v1/budgets/credit", body: #"{"organization":"acme","key":"k1","period":"month","amount":"2.50","reason":"provider refund"}"#)
        #expect(credited.status == .ok && credited.json?["level"]?.stringValue == "k:k1" && credited.json?["spent_after"]?.stringValue == "0.00", "\(credited.text)")
        let reset = try await api.send(.POST, "/v1/budgets/reset", body: #"{"organization":"acme","period":"day","reason":"goodwill"}"#)
        #expect(reset.status == .ok && reset.json?["level"]?.stringValue == "o", "\(reset.text)")
        let audit = try await api.redis.send("XREVRANGE", "\(api.prefix):{cfg}:audit", "+", "-", "COUNT", 2)
        let entries = (audit.array ?? []).map { $0.array?.last?.array?.compactMap(\.string) ?? [] }
        #expect(entries.allSatisfy { $0.contains("admin-token:atok_admin") }, "\(entries)")
        #expect(entries.first?.contains("budget reset acme o day") == true && entries.last?.contains("provider refund") == true, "\(entries)")
        #expect(try await api.send(.POST, "/v1/budgets/reset", body: #"{"organization":"acme","period":"day","reason":"x"}"#, token: .provisioner).status == .forbidden)
        let usage = try await api.send(.GET, "/v1/usage?organization=acme&from=2026-11-01&days=30&by=model", token: .readOnly)
        #expect(usage.status == .ok && usage.json?["data"]?.arrayCount == 0 && usage.json?["total"]?["requests"]?.integerValue == 0, "\(usage.text)")
        await api.stop()
    }
}
