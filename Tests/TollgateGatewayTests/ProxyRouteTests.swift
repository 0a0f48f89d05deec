import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis
@testable import TollgateGateway

/// Proxy routes through the router against a real Redis: refusals in each provider's shape
/// that change nothing, and a call whose upstream never answers is released. (The SDK-driven
/// end-to-end runs are Scripts/checks/40-proxy.sh.)
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"))
struct ProxyRouteTests {
    /// Both upstreams on a port nothing listens on.
    static let unreachable = ProxyConfiguration(upstreams: [
        "openai": Upstream(provider: "openai", baseURL: "http://127.0.0.1:1/v1", apiKey: "sk-test"),
        "anthropic": Upstream(provider: "anthropic", baseURL: "http://127.0.0.1:1/v1", apiKey: "sk-test"),
    ], connectTimeout: .seconds(2))

    static func headers(anthropic: Bool = false, key: String? = "k1") -> HTTPFields {
        var fields = GatewayFixture.headers(token: anthropic ? nil : GatewayFixture.token)
        if anthropic { fields[ProxyHeaders.anthropicAPIKey] = GatewayFixture.token }
        if let key { fields[ProxyHeaders.apiKey] = key }
        return fields
    }

    @Test func refusalsTakeTheProvidersShapeAndChangeNothing() async throws {
        let fixture = try await GatewayFixture.make(GatewayFixture.configuration(standard: Limits(tpm: 1_000, rpm: 100)),
                                                    gatewayConfiguration: GatewayConfiguration(proxy: Self.unreachable))
        let before = try await fixture.quotaState()
        try await fixture.run { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: Self.headers(), body: GatewayFixture.body(
                #"{"model":"test-model","max_tokens":5000,"messages":[{"role":"user","content":"hi"}]}"#)) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.json?["error"]?["type"] == .string("rate_limit_exceeded"))
                #expect(response.json?["error"]?["code"] == .string("rate_limit_exceeded"))
                #expect(response.headers[ProxyHeaders.shouldRetry] == "false", "it can never fit")
                #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
            }
            try await client.execute(uri: "/v1/messages", method: .post, headers: Self.headers(anthropic: true), body: GatewayFixture.body(
                #"{"model":"test-model","max_tokens":5000,"messages":[{"role":"user","content":"hi"}]}"#)) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.json?["type"] == .string("error") && response.json?["error"]?["type"] == .string("rate_limit_error"))
                #expect(response.headers[ProxyHeaders.shouldRetry] == "false")
            }
            try await client.execute(uri: "/v1/responses", method: .post, headers: Self.headers(key: nil), body: GatewayFixture.body(
                #"{"model":"test-model","input":"hi"}"#)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.json?["error"]?["type"] == .string("invalid_request_error"))
                #expect(response.json?["error"]?["param"] == .string("x-tollgate-api-key"))
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: GatewayFixture.headers(token: nil), body: GatewayFixture.body(
                #"{"model":"test-model","messages":[]}"#)) { response in
                #expect(response.status == .unauthorized)
                #expect(response.json?["error"]?["type"] == .string("authentication_error"))
            }
            try await client.execute(uri: "/v1/messages", method: .post, headers: Self.headers(anthropic: true), body: GatewayFixture.body(
                #"{"model":"test-model","max_tokens":5,"messages":"#)) { response in
                #expect(response.status == .badRequest)
                #expect(response.json?["error"]?["type"] == .string("invalid_request_error"))
            }
        }
        #expect(try await fixture.quotaState() == before, "refusals change no counter")
        try await fixture.cleanUp()
    }

    @Test func aCallTheUpstreamNeverAnsweredIsReleased() async throws {
        let fixture = try await GatewayFixture.make(gatewayConfiguration: GatewayConfiguration(proxy: Self.unreachable))
        try await fixture.run { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: Self.headers(), body: GatewayFixture.body(
                #"{"model":"test-model","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"#)) { response in
                #expect(response.status == .badGateway)
                #expect(response.json?["error"]?["code"] == .string("upstream_unreachable"))
            }
        }
        let holds = try await fixture.client.send("ZCARD", fixture.keys.holds(organization: "acme")).int
        #expect(holds == 0, "the hold was released, not left to expire")
        let ledger = try await fixture.client.send("XLEN", fixture.keys.ledger(organization: "acme")).int
        #expect(ledger == 0, "nothing was billed")
        await fixture.gateway.upstreamClient.shutdown()
        try await fixture.cleanUp()
    }

    @Test func aProviderWithoutUpstreamIsUnavailable() async throws {
        let fixture = try await GatewayFixture.make()
        try await fixture.run { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: Self.headers(), body: GatewayFixture.body(
                #"{"model":"test-model","messages":[{"role":"user","content":"hi"}]}"#)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.json?["error"]?["code"] == .string("no_upstream"))
            }
        }
        try await fixture.cleanUp()
    }
}
