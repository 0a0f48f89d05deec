import AsyncHTTPClient
import Foundation
import NIOHTTP1
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// What every route promises: bad input is a 4xx JSON error that changes nothing, an
/// idempotent create happens once however it is retried, and a list walk sees every item once.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct AdminAPIContractTests {
    /// Bad requests for every route: (method, path, body, content type, scope).
    static let badRequests: [(HTTPMethod, String, String?, String, AdminToken.Scope?)] = {
        var requests: [(HTTPMethod, String, String?, String, AdminToken.Scope?)] = []
        let json = "application/json"
        // Shared by every route with a body.
        for path in ["/v1/tiers", "/v1/prices", "/v1/prices/test-model/versions", "/v1/prices/test-model/retire"] {
            requests += [
                (.POST, path, "{", json, .admin), (.POST, path, "[]", json, .admin), (.POST, path, #"{"bogus":1}"#, json, .admin),
                (.POST, path, "{}", "text/plain", .admin), (.POST, path, "{}", json, nil), (.POST, path, "{}", json, .readOnly),
                (.POST, path, "\"x\"", json, .admin), (.POST, path, String(repeating: " ", count: 70_000) + "{}", json, .admin),
            ]
        }
        requests += [(.PATCH, "/v1/tiers/standard", "{", json, .admin), (.PATCH, "/v1/tiers/standard", #"{"name":"x"}"#, json, .admin)]
        // Tiers.
        for body in [#"{}"#, #"{"name":""}"#, #"{"name":"a b"}"#, #"{"name":"standard"}"#, #"{"name":7}"#,
                     #"{"name":"n","limits":{"tpm":-1}}"#, #"{"name":"n","limits":{"tpm":1.5}}"#, #"{"name":"n","limits":{"tpm":"5"}}"#,
                     #"{"name":"n","limits":{"tpm":1000000000001}}"#, #"{"name":"n","limits":{"daily_budget":"-1.00"}}"#,
                     #"{"name":"n","limits":{"daily_budget":1}}"#, #"{"name":"n","limits":{"daily_budget":"1.0000000001"}}"#,
                     #"{"name":"n","limits":{"weekly":1}}"#, #"{"name":"n","limits":[]}"#, #"{"name":"n","user_caps":{"rpm":1}}"#,
                     #"{"name":"n","allowed_models":"gpt"}"#, #"{"name":"n","allowed_models":[1]}"#, #"{"name":"n","hold_seconds":0}"#,
                     #"{"name":"n","hold_seconds":86401}"#, #"{"name":"n","default_output_tokens":0}"#, #"{"name":"n","alert_thresholds":[0]}"#,
                     #"{"name":"n","alert_thresholds":"50"}"#, #"{"name":"n","failure_mode":"maybe"}"#, #"{"name":"n","timezone":"Mars/Base"}"#,
                     #"{"name":"n","fallback_price":{"input":"1.00"}}"#, #"{"name":"n","fallback_price":{"input":"x","output":"1"}}"#,
                     #"{"name":"n","fallback_price":{"input":"10001","output":"1"}}"#, #"{"name":"n","reason":7}"#,
                     #"{"name":"n","tpm_saturation_minutes":0}"#] {
            requests.append((.POST, "/v1/tiers", body, json, .admin))
        }
        requests += [
            (.PATCH, "/v1/tiers/nope", "{}", json, .admin), (.PATCH, "/v1/tiers/standard", #"{"limits":{"rpm":-5}}"#, json, .admin),
            (.DELETE, "/v1/tiers/nope", nil, json, .admin), (.GET, "/v1/tiers/nope", nil, json, .readOnly),
            (.GET, "/v1/tiers?limit=0", nil, json, .readOnly), (.GET, "/v1/tiers?limit=100000", nil, json, .readOnly),
            (.GET, "/v1/tiers?limit=x", nil, json, .readOnly), (.GET, "/v1/tiers?cursor=", nil, json, .readOnly),
            (.GET, "/v1/tiers?sort=name", nil, json, .readOnly), (.PUT, "/v1/tiers", "{}", json, .admin), (.GET, "/v1/nothing", nil, json, .admin),
        ]
        // Prices.
        for body in [#"{"model":"m","provider":"p","input":"1"}"#, #"{"model":"","provider":"p","input":"1","output":"1"}"#,
                     #"{"model":"m m","provider":"p","input":"1","output":"1"}"#, #"{"model":"test-model","provider":"p","input":"1","output":"1"}"#,
                     #"{"model":"m","input":"1","output":"1"}"#, #"{"model":"m","provider":"p","input":1,"output":"1"}"#,
                     #"{"model":"m","provider":"p","input":"-1","output":"1"}"#, #"{"model":"m","provider":"p","input":"1","output":"1","tokenizer":"p50k"}"#,
                     #"{"model":"m","provider":"p","input":"1","output":"1","effective_from":"yesterday"}"#,
                     #"{"model":"m","provider":"p","input":"1","output":"1","aliases":["a b"]}"#,
                     #"{"model":"m","provider":"p","input":"1","output":"1","aliases":["test-model"]}"#] {
            requests.append((.POST, "/v1/prices", body, json, .admin))
        }
        requests += [
            (.POST, "/v1/prices/nope/versions", #"{"input":"1","output":"1"}"#, json, .admin),
            (.POST, "/v1/prices/test-model/versions", #"{"input":"1"}"#, json, .admin),
            (.POST, "/v1/prices/test-model/versions", #"{"input":"1","output":"1","provider":"x"}"#, json, .admin),
            (.POST, "/v1/prices/nope/retire", "{}", json, .admin), (.POST, "/v1/prices/test-model/retire", #"{"effective_from":"x"}"#, json, .admin),
            (.GET, "/v1/prices/nope", nil, json, .readOnly), (.GET, "/v1/prices?limit=-1", nil, json, .readOnly),
        ]
        // Customers (acme ⊃ web ⊃ k1 exist).
        for body in [#"{"tier":"standard"}"#, #"{"id":"n","tier":"standard","name":""}"#, #"{"id":"n","tier":"standard","name":"\u0001"}"#,
                     #"{"id":"n","tier":"standard","name":"\#(String(repeating: "x", count: 51))"}"#, #"{"id":"n b","tier":"standard"}"#,
                     #"{"id":"n","tier":"nope"}"#, #"{"id":"acme","tier":"standard"}"#, #"{"id":"n","tier":"standard","overrides":{"tpm":null}}"#,
                     #"{"id":"n","tier":"standard","key":{}}"#, #"{"id":"n","tier":"standard","workspace":{"id":"web"}}"#,
                     #"{"id":"n","tier":"standard","workspace":{"id":"w2"},"key":{"id":"k1"}}"#, #"{"id":"n","tier":"standard","workspace":{}}"#,
                     #"{"id":"n","tier":"standard","workspace":{"id":"w2","organization":"x"}}"#] {
            requests.append((.POST, "/v1/organizations", body, json, .provisioner))
        }
        requests += [
            (.POST, "/v1/organizations", #"{"id":"n","tier":"standard"}"#, json, .readOnly),
            (.PATCH, "/v1/organizations/acme", #"{"tier":"nope"}"#, json, .provisioner), (.PATCH, "/v1/organizations/acme", #"{"id":"x"}"#, json, .provisioner),
            (.PATCH, "/v1/organizations/nope", "{}", json, .provisioner), (.DELETE, "/v1/organizations/nope", nil, json, .provisioner),
            (.POST, "/v1/organizations/nope/suspend", "{}", json, .provisioner), (.POST, "/v1/organizations/acme/suspend", #"{"why":1}"#, json, .provisioner),
            (.GET, "/v1/organizations/nope", nil, json, .readOnly), (.GET, "/v1/organizations?cursor=a%20b", nil, json, .readOnly),
            (.POST, "/v1/workspaces", #"{"id":"w2","organization":"nope"}"#, json, .provisioner), (.POST, "/v1/workspaces", #"{"id":"web","organization":"acme"}"#, json, .provisioner),
            (.POST, "/v1/workspaces", #"{"id":"w2"}"#, json, .provisioner), (.PATCH, "/v1/workspaces/web", #"{"tier":5}"#, json, .provisioner),
            (.GET, "/v1/workspaces?organization=a%20b", nil, json, .readOnly),
            (.POST, "/v1/keys", #"{"workspace":"nope"}"#, json, .provisioner), (.POST, "/v1/keys", #"{"id":"k1","workspace":"web"}"#, json, .provisioner),
            (.POST, "/v1/keys", #"{"workspace":"web","allowed_models":[""]}"#, json, .provisioner), (.PATCH, "/v1/keys/k1", #"{"workspace":"x"}"#, json, .provisioner),
            (.POST, "/v1/keys/nope/resume", "{}", json, .provisioner), (.DELETE, "/v1/keys/nope", nil, json, .provisioner),
            (.POST, "/v1/service-tokens", "{}", json, .provisioner), (.POST, "/v1/service-tokens", #"{"name":"t","organizations":["a b"]}"#, json, .provisioner),
            (.POST, "/v1/service-tokens", #"{"name":"t","sha256":"00"}"#, json, .provisioner), (.POST, "/v1/service-tokens/nope/revoke", "{}", json, .provisioner),
            (.GET, "/v1/service-tokens/nope", nil, json, .readOnly), (.DELETE, "/v1/service-tokens/nope", nil, json, .provisioner),
        ]
        // Budgets and usage.
        for body in [#"{"organization":"acme","period":"day","amount":"1.00"}"#, #"{"organization":"acme","period":"week","amount":"1.00","reason":"r"}"#,
                     #"{"organization":"nope","period":"day","amount":"1.00","reason":"r"}"#, #"{"organization":"acme","period":"day","amount":"-1","reason":"r"}"#,
                     #"{"organization":"acme","period":"day","reason":"r"}"#, #"{"organization":"acme","workspace":"nope","period":"day","amount":"1","reason":"r"}"#,
                     #"{"organization":"acme","key":"nope","period":"day","amount":"1","reason":"r"}"#, #"{"organization":"acme","period":"day","amount":1,"reason":"r"}"#] {
            requests.append((.POST, "/v1/budgets/credit", body, json, .admin))
        }
        requests += [
            (.POST, "/v1/budgets/reset", #"{"organization":"acme","period":"day","amount":"1","reason":"r"}"#, json, .admin),
            (.POST, "/v1/budgets/reset", #"{"organization":"acme","period":"day","reason":"r"}"#, json, .provisioner),
            (.GET, "/v1/usage?from=2026-11-01", nil, json, .readOnly), (.GET, "/v1/usage?organization=acme", nil, json, .readOnly),
            (.GET, "/v1/usage?organization=acme&from=2026-11-01&days=401", nil, json, .readOnly),
            (.GET, "/v1/usage?organization=acme&from=2026-13-01", nil, json, .readOnly), (.GET, "/v1/usage?organization=acme&from=2026-11-01&by=color", nil, json, .readOnly),
            (.GET, "/v1/usage?organization=nope&from=2026-11-01", nil, json, .readOnly),
        ]
        return requests
    }()

    @Test func badInputToEveryRouteIsAJSONErrorAndChangesNothing() async throws {
        let api = try await AdminAPIProcess()
        let before = try await api.state()
        let version = try await api.version()
        for (method, path, body, contentType, scope) in Self.badRequests {
            let reply = try await api.send(method, path, body: body, token: scope, contentType: contentType)
            #expect(reply.isClientError, "\(method) \(path) \(body?.prefix(80) ?? "") → \(reply.status) \(reply.text.prefix(200))")
            // With an Idempotency-Key too: the refusal is not stored.
            if method == .POST {
                let keyed = try await api.send(method, path, body: body, token: scope, headers: [("Idempotency-Key", "bad-\(path)")], contentType: contentType)
                #expect(keyed.status == reply.status, "\(path) \(body?.prefix(80) ?? "")")
            }
        }
        #expect(try await api.version() == version)
        #expect(try await api.state() == before, "refused requests changed Redis")
        await api.stop()
    }

    @Test func anIdempotentCreateRetriedConcurrentlyHappensOnce() async throws {
        let api = try await AdminAPIProcess()
        let version = try await api.version()
        let body = #"{"name":"once","limits":{"tpm":1234}}"#
        let replies = try await withThrowingTaskGroup(of: AdminAPIProcess.Reply.self) { group in
            for _ in 0..<16 { group.addTask { try await api.send(.POST, "/v1/tiers", body: body, headers: [("Idempotency-Key", "create-once")]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.allSatisfy { $0.status == .created }, "\(replies.map(\.status))")
        #expect(Set(replies.map(\.text)).count == 1, "every retry gets the first answer")
        #expect(replies.filter { $0.headers["Idempotent-Replayed"].first == "true" }.count == 15)
        #expect(try await api.version() == version + 1, "created once")
        // Later retries replay; the same key with another body is refused and changes nothing.
        #expect(try await api.send(.POST, "/v1/tiers", body: body, headers: [("Idempotency-Key", "create-once")]).text == replies[0].text)
        let reused = try await api.send(.POST, "/v1/tiers", body: #"{"name":"twice"}"#, headers: [("Idempotency-Key", "create-once")])
        #expect(reused.status == .conflict && reused.json?["error"]?["code"]?.stringValue == "idempotency_key_reused")
        // Without a key, a second create is a conflict; keys are per token.
        #expect(try await api.send(.POST, "/v1/tiers", body: body).status == .conflict)
        #expect(try await api.send(.POST, "/v1/tiers", body: #"{"name":"other"}"#, token: .admin, headers: [("Idempotency-Key", "")]).status == .badRequest)
        #expect(try await api.version() == version + 1)
        await api.stop()
    }

    @Test func aListWalkSeesEveryItemOnceWhileWritesHappen() async throws {
        let names = (0..<150).map { String(format: "t%03d", $0) }
        let api = try await AdminAPIProcess(seed: try AdminAPIProcess.seed(tiers: names.map { Tier(name: $0) }))
        // A writer adds and removes other tiers, between and around the listed ones, all along the walk.
        let writer = Task {
            var written = 0
            for round in 0..<60 where !Task.isCancelled {
                let name = String(format: "t%03d_%d", (round * 37) % 150, round)
                _ = try await api.send(.POST, "/v1/tiers", body: "{\"name\":\"\(name)\"}")
                if round % 3 == 2 { _ = try await api.send(.DELETE, "/v1/tiers/\(name)") }
                written += 1
            }
            return written
        }
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let reply = try await api.send(.GET, "/v1/tiers?limit=7" + (cursor.map { "&cursor=\($0)" } ?? ""), token: .readOnly)
            #expect(reply.status == .ok, "\(reply.text)")
            guard case .array(let items) = reply.json?["data"] else { Issue.record("no data: \(reply.text)"); break }
            #expect(items.count <= 7)
            seen += items.compactMap { $0["name"]?.stringValue }
            cursor = reply.json?["next_cursor"]?.stringValue
            pages += 1
        } while cursor != nil && pages < 1_000
        let written = try await writer.value
        #expect(written > 0)
        let listed = seen.filter { names.contains($0) }
        #expect(listed == names, "each of the \(names.count) tiers exactly once, in order")
        #expect(Set(seen).count == seen.count, "nothing twice")
        await api.stop()
    }
}
