import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateGateway
import TollgateRedis

/// `/readyz` and the breaker gauge say what the breaker is, in every state (issue 11).
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct BreakerReadinessTests {
    static func readiness(_ client: any TestClientProtocol) async throws -> (Int, String?) {
        try await client.execute(uri: "/readyz", method: .get) { response in
            (response.status.code, response.json?["redis"]?.stringValue)
        }
    }

    /// `tollgate_circuit_breaker_state`: 0 closed, 1 half-open, 2 open.
    static func gauge(_ client: any TestClientProtocol) async throws -> Double? {
        try await client.execute(uri: "/metrics", method: .get) { response in
            String(buffer: response.body).split(separator: "\n").first { $0.hasPrefix("tollgate_circuit_breaker_state") }
                .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        }
    }

    @Test func readinessAndGaugeFollowTheBreakerThroughOpenAndAnOOMProbe() async throws {
        let server = try await RedisServer.start()
        let fixture = try await GatewayFixture.make(server: server, gatewayConfiguration: GatewayConfiguration(breakerFailureThreshold: 1,
                                                                                                               breakerCooldown: .milliseconds(300)))
        let admin = server.client()
        try await fixture.run { client in
            #expect(try await Self.readiness(client).0 == 200)
            #expect(try await Self.gauge(client) == 0)
            // Memory full, then a stall: one timeout opens the breaker (threshold 1).
            _ = try await admin.send("CONFIG", "SET", "maxmemory", "1")
            server.pause()
            _ = try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"r1","api_key":"k1","model":"test-model","input_tokens":10,"max_output_tokens":0}"#)) { $0.status }
            let open = try await Self.readiness(client)
            #expect(open.0 == 503 && open.1 == "unreachable", "\(open)")
            #expect(try await Self.gauge(client) == 2)
            server.resume()
            try await Task.sleep(for: .milliseconds(400))
            // The cooldown is over: readiness probes (PING is allowed under OOM), Redis answers, the breaker closes.
            let probed = try await Self.readiness(client)
            #expect(probed.0 == 200 && probed.1 == "ok", "\(probed)")
            #expect(try await Self.gauge(client) == 0)
            // The reserve itself meets OOM: refused, the breaker stays closed and the node ready.
            let status = try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"r2","api_key":"k1","model":"test-model","input_tokens":10,"max_output_tokens":0}"#)) { $0.status.code }
            #expect(status == 503)
            #expect(try await Self.readiness(client).0 == 200)
            _ = try await admin.send("CONFIG", "SET", "maxmemory", "0")
            let after = try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"r3","api_key":"k1","model":"test-model","input_tokens":10,"max_output_tokens":0}"#)) { $0.status.code }
            #expect(after == 200)
        }
        server.resume()
        await admin.shutdown()
        try await fixture.cleanUp()
        await server.stop()
    }
}
