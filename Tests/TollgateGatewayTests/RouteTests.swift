import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateGateway
import TollgateRedis

@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct RouteTests {
    @Test func reserveCommitQuotaAndRelease() async throws {
        let fixture = try await GatewayFixture.make()
        try await fixture.run { client in
            // Reserve: 1,000 input + 500 max output at $1 / $2 per 1M = $0.002.
            try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"r1","api_key":"k1","model":"test-model-2025","input_tokens":1000,"max_output_tokens":500,"user":"alice","feature":"chat"}"#)) { response in
                #expect(response.status == .ok)
                let json = try #require(response.json)
                #expect(json["allowed"] == .bool(true))
                #expect(json["reserved_tokens"] == .number("1500"))
                #expect(json["estimated_cost"]?.stringValue == "0.002")
                #expect(json["currency"]?.stringValue == "USD")
                #expect(json["model"]?.stringValue == "test-model")
                #expect(json["price_version"]?.stringValue == "test-model@1")
                #expect(json["hold_expires_at"]?.stringValue != nil)
                // The most constraining level: the user cap (5,000 TPM) over the organisation (10,000).
                #expect(response.headers[RateLimitHeaders.limitTokens] == "5000")
                #expect(response.headers[RateLimitHeaders.remainingTokens] == "3500")
                #expect(response.headers[RateLimitHeaders.limitRequests] == "100")
                #expect(response.headers[RateLimitHeaders.remainingRequests] == "99")
                let reset = try #require(response.headers[RateLimitHeaders.resetTokens])
                #expect(reset.hasSuffix("s") && (reset.hasPrefix("1m") || reset.hasPrefix("59") || reset.hasPrefix("60")))
                #expect(response.headers[RateLimitHeaders.policy]?.contains(#""tokens";q=5000;w=60"#) == true)
                #expect(response.headers[RateLimitHeaders.rateLimit]?.contains(#""tokens";r=3500;t="#) == true)
            }
            // Commit the provider's own usage object (OpenAI Chat shape, detected).
            try await client.execute(uri: "/v1/commit", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"r1","api_key":"k1","usage":{"prompt_tokens":900,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":400}},"latency_ms":812}"#)) { response in
                #expect(response.status == .ok)
                let json = try #require(response.json)
                // 500 × $1 + 400 × $0.50 + 300 × $2 per 1M = $0.0013
                #expect(json["cost"]?.stringValue == "0.0013")
                #expect(json["usage"]?["cached_input_tokens"] == .number("400"))
                #expect(json["usage"]?["total_tokens"] == .number("1200"))
                #expect(json["usage_format"]?.stringValue == "openai_chat")
                #expect(json["settled_reservation"] == .bool(true))
                #expect(json["duplicate"] == .bool(false))
            }
            // A retried commit is answered the same and charges nothing more.
            try await client.execute(uri: "/v1/commit", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"r1","api_key":"k1","usage":{"prompt_tokens":900,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":400}}}"#)) { response in
                #expect(response.status == .ok)
                #expect(response.json?["duplicate"] == .bool(true))
                #expect(response.json?["cost"]?.stringValue == "0.0013")
            }
            try await client.execute(uri: "/v1/quota/k1?user=alice", method: .get, headers: GatewayFixture.headers()) { response in
                #expect(response.status == .ok)
                let json = try #require(response.json)
                guard case .array(let levels) = json["levels"] else { Issue.record("no levels"); return }
                #expect(levels.count == 4)
                let organization = try #require(levels.first { $0["scope"]?.stringValue == "organization" })
                #expect(organization["daily_budget"]?["spent"]?.stringValue == "0.0013")
                #expect(organization["daily_budget"]?["limit"]?.stringValue == "1.00")
                #expect(organization["daily_budget"]?["remaining"]?.stringValue == "0.9987")
                #expect(organization["tpm"]?["used"] == .number("1200"))
                #expect(organization["tpm"]?["limit"] == .number("10000"))
            }
            // Release: a second reservation returned.
            _ = try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"r2","api_key":"k1","model":"test-model","input_tokens":10}"#))
            try await client.execute(uri: "/v1/release", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"r2","api_key":"k1"}"#)) { response in
                #expect(response.status == .ok)
                #expect(response.json?["released"] == .bool(true))
                #expect(response.json?["released_tokens"] == .number("110"))
            }
            try await client.execute(uri: "/v1/release", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"r1","api_key":"k1"}"#)) { response in
                #expect(response.status == .conflict)
                #expect(response.errorCode == "already_committed")
            }
        }
        try await fixture.cleanUp()
    }

    @Test func limitedReservationsGet429WithRetryAfter() async throws {
        let fixture = try await GatewayFixture.make(GatewayFixture.configuration(standard: Limits(tpm: 1_000, rpm: 100)))
        try await fixture.run { client in
            _ = try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"a","api_key":"k1","model":"test-model","input_tokens":800,"max_output_tokens":100}"#))
            try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"b","api_key":"k1","model":"test-model","input_tokens":200,"max_output_tokens":100}"#)) { response in
                #expect(response.status == .tooManyRequests)
                let retry = try #require(response.headers[.retryAfter].flatMap(Int.init))
                #expect(retry >= 1 && retry <= 62)
                let json = try #require(response.json)
                #expect(json["allowed"] == .bool(false))
                #expect(json["reason"]?.stringValue == "tpm")
                #expect(json["scope"]?.stringValue == "organization")
                #expect(json["retry_after_seconds"] == .number(String(retry)))
                #expect(response.headers[RateLimitHeaders.remainingTokens] == "100")
            }
            try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"c","api_key":"k1","model":"test-model","input_tokens":5000,"max_output_tokens":100}"#)) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.json?["reason"]?.stringValue == "too_large")
                #expect(response.json?["retry_after_seconds"] == .null || response.json?["retry_after_seconds"] == nil)
                #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
            }
            // Each refusal is counted by reason, level and tier, next to the decision.
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"tollgate_refusals_total{reason="tpm",scope="organization",tier="standard"} 1"#))
                #expect(text.contains(#"tollgate_refusals_total{reason="too_large",scope="organization",tier="standard"} 1"#))
                #expect(text.contains(#"tollgate_decisions_total{result="limited",reason="tpm",tier="standard"} 1"#))
            }
        }
        // And in Redis, for the dashboard: by partition, day and reason, once the counter flushes.
        await fixture.gateway.refusals.flush()
        let day = RollupPeriod.day.label(fixture.gateway.watcher.now, timezone: TimeZone(identifier: "UTC")!)
        let reply = try await fixture.client.send("HGETALL", fixture.keys.refusals(partition: fixture.keys.partition(of: "acme"), label: day))
        let fields: [String] = (reply.array ?? []).compactMap(\.string)
        var counts: [String: String] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) { counts[fields[index]] = fields[index + 1] }
        #expect(counts == ["tpm": "1", "too_large": "1"])
        try await fixture.cleanUp()
    }

    @Test func authentication() async throws {
        let fixture = try await GatewayFixture.make()
        let reserve = #"{"request_id":"x","api_key":"k1","model":"test-model","input_tokens":1}"#
        try await fixture.run { client in
            for token in [nil, "wrong", ""] as [String?] {
                try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(token: token), body: GatewayFixture.body(reserve)) { response in
                    #expect(response.status == .unauthorized)
                    #expect(response.errorCode == "unauthorized")
                    #expect(response.headers[.wwwAuthenticate] == "Bearer")
                }
            }
            // A token limited to globex may not act for acme's key, and the error names no one.
            try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(token: GatewayFixture.globexToken), body: GatewayFixture.body(reserve)) { response in
                #expect(response.status == .forbidden)
                let message = response.json?["error"]?["message"]?.stringValue ?? ""
                #expect(!message.contains("acme") && !message.contains("globex"))
            }
            try await client.execute(uri: "/v1/quota/k1", method: .get, headers: GatewayFixture.headers(token: GatewayFixture.globexToken)) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(token: GatewayFixture.globexToken), body: GatewayFixture.body(
                #"{"request_id":"y","api_key":"g1","model":"test-model","input_tokens":1}"#)) { response in
                #expect(response.status == .ok)
            }
        }
        try await fixture.cleanUp()
    }

    @Test func badInputGetsAClearErrorAndChangesNothing() async throws {
        let fixture = try await GatewayFixture.make()
        try await fixture.run { client in
            // One admitted request first, so that there is state to (not) change.
            _ = try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"ok","api_key":"k1","model":"test-model","input_tokens":10}"#))
        }
        let before = try await fixture.quotaState()
        let long = String(repeating: "r", count: 129)
        let cases: [(String, String, HTTPResponse.Status, String)] = [
            ("/v1/reserve", #"{"request_id":"a","api_key":"k1","#, .badRequest, "malformed_json"),
            ("/v1/reserve", #"[1,2,3]"#, .unprocessableContent, "invalid_request"),
            ("/v1/reserve", #"{"api_key":"k1","model":"test-model","input_tokens":10}"#, .unprocessableContent, "invalid_request"),
            ("/v1/reserve", #"{"request_id":"a","api_key":"k1","model":"test-model","input_tokens":-5}"#, .unprocessableContent, "invalid_request"),
            ("/v1/reserve", #"{"request_id":"a","api_key":"k1","model":"test-model","input_tokens":1e12}"#, .unprocessableContent, "invalid_request"),
            ("/v1/reserve", #"{"request_id":"a","api_key":"k1","model":"test-model","input_tokens":1.5}"#, .unprocessableContent, "invalid_request"),
            ("/v1/reserve", #"{"request_id":"a","api_key":"k1","model":"test-model","input_tokens":"10"}"#, .unprocessableContent, "invalid_request"),
            ("/v1/reserve", #"{"request_id":"\#(long)","api_key":"k1","model":"test-model","input_tokens":10}"#, .unprocessableContent, "invalid_request"),
            ("/v1/reserve", #"{"request_id":"a","api_key":"k1","model":"test-model","input_tokens":10,"user":"\#(long)"}"#, .unprocessableContent, "invalid_request"),
            ("/v1/reserve", #"{"request_id":"a","api_key":"k1","model":"gpt-99","input_tokens":10}"#, .unprocessableContent, "unknown_model"),
            ("/v1/reserve", #"{"request_id":"a","api_key":"nope","model":"test-model","input_tokens":10}"#, .notFound, "unknown_api_key"),
            ("/v1/reserve", #"{"request_id":"a","api_key":"k2","model":"test-model","input_tokens":10}"#, .forbidden, "suspended"),
            ("/v1/reserve", #"{"request_id":"a","api_key":"i1","model":"test-model","input_tokens":10}"#, .forbidden, "suspended"),
            ("/v1/commit", #"{"request_id":"ok","api_key":"k1","usage":{"prompt_tokens":-1,"completion_tokens":1}}"#, .unprocessableContent, "invalid_request"),
            ("/v1/commit", #"{"request_id":"ok","api_key":"k1","usage":{"bananas":3}}"#, .unprocessableContent, "invalid_request"),
            ("/v1/commit", #"{"request_id":"ok","api_key":"k1","usage":"lots"}"#, .unprocessableContent, "invalid_request"),
            ("/v1/commit", #"{"request_id":"ok","api_key":"k1"}"#, .unprocessableContent, "invalid_request"),
            ("/v1/commit", #"{"request_id":"ok","api_key":"k1","provider":"mistral","usage":{"input_tokens":1,"output_tokens":1}}"#, .unprocessableContent, "invalid_request"),
            ("/v1/commit", #"{"request_id":"never-reserved","api_key":"k1","usage":{"input_tokens":1,"output_tokens":1}}"#, .notFound, "no_reservation"),
            ("/v1/record", #"{"request_id":"rec","api_key":"k1","usage":{"input_tokens":1,"output_tokens":1}}"#, .unprocessableContent, "invalid_request"),
            ("/v1/release", #"{"request_id":"never","api_key":"k1"}"#, .notFound, "unknown_request"),
            ("/v1/commit", #"{"request_id":"ok","api_key":"k1","usage":{"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":3}}"#, .unprocessableContent, "invalid_request"),
            ("/v1/commit", #"{"request_id":"ok","api_key":"k1","provider":"anthropic","usage":{"usageMetadata":{"promptTokenCount":1}}}"#, .unprocessableContent, "invalid_request"),
            ("/v1/commit", #"{"request_id":"ok","api_key":"k1","provider":"Anthropic","usage":{"input_tokens":1,"output_tokens":1}}"#, .unprocessableContent, "invalid_request"),
            ("/v1/reserve", #"{"request_id":"ä","api_key":"k1","model":"test-model","input_tokens":10}"#, .unprocessableContent, "invalid_request"),
            ("/v1/reserve", #"{"request_id":"a","api_key":"k1","model":"","input_tokens":10}"#, .unprocessableContent, "invalid_request"),
        ]
        try await fixture.run { client in
            for (uri, body, status, code) in cases {
                try await client.execute(uri: uri, method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(body)) { response in
                    #expect(response.status == status, "\(uri) \(body)")
                    #expect(response.errorCode == code, "\(uri) \(body)")
                    #expect(response.headers[.contentType] == "application/json")
                    let message = response.json?["error"]?["message"]?.stringValue ?? ""
                    #expect(!message.isEmpty)
                }
            }
            // A method a known path does not answer: 405 with Allow and the JSON error; unknown paths 404.
            for (uri, method, allow) in [("/v1/reserve", HTTPRequest.Method.put, "POST"), ("/v1/quota/k1", .delete, "GET"), ("/healthz", .post, "GET")] {
                try await client.execute(uri: uri, method: method, headers: GatewayFixture.headers()) { response in
                    #expect(response.status == .methodNotAllowed, "\(method) \(uri)")
                    #expect(response.headers[.allow] == allow, "\(method) \(uri)")
                    #expect(response.errorCode == "method_not_allowed")
                }
            }
            try await client.execute(uri: "/v1/nothing", method: .get, headers: GatewayFixture.headers()) { #expect($0.status == .notFound) }
            // A valid body that is not sent as JSON: 415, nothing held.
            var plain = GatewayFixture.headers()
            plain[.contentType] = "text/plain"
            try await client.execute(uri: "/v1/reserve", method: .post, headers: plain, body: GatewayFixture.body(
                #"{"request_id":"plain","api_key":"k1","model":"test-model","input_tokens":10}"#)) { response in
                #expect(response.status == .unsupportedMediaType)
                #expect(response.errorCode == "unsupported_media_type")
            }
            // An empty user is no user (as in bodies): the quota has no user level.
            try await client.execute(uri: "/v1/quota/k1?user=", method: .get, headers: GatewayFixture.headers()) { response in
                #expect(response.status == .ok)
                guard case .array(let levels) = response.json?["levels"] else { Issue.record("no levels"); return }
                #expect(levels.count == 3)
            }
            // A body over the limit (64 KiB; the prompt routes have their own, larger one) is refused before it is read.
            let huge = #"{"request_id":"ok","api_key":"k1","usage":{"input_tokens":1,"output_tokens":1},"user":""# + String(repeating: "x", count: 70_000) + #""}"#
            try await client.execute(uri: "/v1/commit", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(huge)) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.errorCode == "body_too_large")
            }
        }
        #expect(try await fixture.quotaState() == before)
        try await fixture.cleanUp()
    }

    @Test func healthReadinessAndMetrics() async throws {
        let fixture = try await GatewayFixture.make()
        try await fixture.run { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.json?["status"]?.stringValue == "ready")
            }
            _ = try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"m1","api_key":"k1","model":"test-model","input_tokens":10}"#))
            _ = try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(token: "bad"), body: GatewayFixture.body("{}"))
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"tollgate_decisions_total{result="allowed",reason="",tier="standard"} 1"#))
                #expect(text.contains(#"tollgate_decisions_total{result="rejected",reason="unauthorized",tier=""} 1"#))
                #expect(text.contains("tollgate_holds_created_total 1"))
                #expect(text.contains("tollgate_request_duration_seconds_bucket"))
                #expect(text.contains("tollgate_config_version"))
                #expect(!text.contains("k1") && !text.contains("acme"))
                #expect(Self.familiesWithoutHelp(text).isEmpty, "no HELP: \(Self.familiesWithoutHelp(text))")
            }
            fixture.gateway.beginShutdown()
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.json?["shutting_down"]?.stringValue == "true")
            }
        }
        try await fixture.cleanUp()
    }

    @Test func redisOutageFollowsEachTiersFailureModeAndSpoolsUsage() async throws {
        // With AOF on, what was committed (and the live hold) survives the restart.
        let server = try await RedisServer.start(.init(appendOnly: true))
        // A Redis timeout long enough that "answered without waiting for it" stays visible on a
        // CI machine whose in-process requests take hundreds of ms while every suite runs.
        let redisTimeout: Duration = .seconds(2)
        let fixture = try await GatewayFixture.make(server: server, gatewayConfiguration: GatewayConfiguration(breakerFailureThreshold: 2, breakerCooldown: .milliseconds(300)),
                                                    redisTimeout: redisTimeout)
        // One reservation before the outage, committed during it.
        try await fixture.run { client in
            _ = try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"before","api_key":"k1","model":"test-model","input_tokens":1000,"max_output_tokens":0}"#))
        }
        await server.stop()
        let clock = ContinuousClock()
        try await fixture.run { client in
            var durations: [Duration] = []
            for index in 0..<6 {
                var started = clock.now
                // acme fails closed: 503 with a clear error.
                try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                    #"{"request_id":"c\#(index)","api_key":"k1","model":"test-model","input_tokens":10}"#)) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.errorCode == "redis_unavailable")
                    #expect(response.headers[.retryAfter] == "1")
                }
                durations.append(clock.now - started)
                started = clock.now
                // globex fails open: allowed, marked degraded.
                try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                    #"{"request_id":"o\#(index)","api_key":"g1","model":"test-model","input_tokens":10}"#)) { response in
                    #expect(response.status == .ok)
                    #expect(response.json?["degraded"] == .bool(true))
                    #expect(response.headers[RateLimitHeaders.degraded] == "true")
                }
                durations.append(clock.now - started)
            }
            // Answered without waiting for the Redis timeout: the median below it, the slowest
            // within it plus the scheduling slack of a loaded CI machine.
            let sorted = durations.sorted()
            #expect(sorted[sorted.count / 2] < redisTimeout, "median \(sorted[sorted.count / 2])")
            #expect(sorted.last! < redisTimeout + schedulingSlack, "slowest \(sorted.last!)")
            // Usage reported during the outage goes to the spool: 202.
            try await client.execute(uri: "/v1/commit", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"before","api_key":"k1","usage":{"input_tokens":1000,"output_tokens":500,"total_tokens":1500}}"#)) { response in
                #expect(response.status == .accepted)
                #expect(response.json?["spooled"] == .bool(true))
            }
            try await client.execute(uri: "/v1/record", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"rec1","api_key":"g1","model":"test-model","usage":{"input_tokens":2000,"output_tokens":0,"total_tokens":2000}}"#)) { response in
                #expect(response.status == .accepted)
            }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
        }
        #expect(fixture.gateway.spool.depth == 2)

        // Redis comes back: the spool is replayed, exactly once.
        // (As the gateway's own replayer does: a pass every so often, until the spool is empty.
        // The first passes may find the connection still in its reconnect backoff and the
        // breaker open again.)
        try await server.restart()
        let replayer = SpoolReplayer(gateway: fixture.gateway)
        let deadline = clock.now + .seconds(15)
        while fixture.gateway.spool.depth > 0 && clock.now < deadline {
            await replayer.replayOnce()
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(fixture.gateway.spool.depth == 0)
        try await fixture.run { client in
            try await client.execute(uri: "/v1/quota/k1", method: .get, headers: GatewayFixture.headers()) { response in
                guard case .array(let levels) = response.json?["levels"] else { Issue.record("no levels"); return }
                let organization = levels.first { $0["scope"]?.stringValue == "organization" }
                // 1,000 × $1 + 500 × $2 per 1M; the reservation's hold is settled, not double counted.
                #expect(organization?["daily_budget"]?["spent"]?.stringValue == "0.002")
                #expect(organization?["daily_budget"]?["held"]?.stringValue == "0.00")
            }
            try await client.execute(uri: "/v1/quota/g1", method: .get, headers: GatewayFixture.headers()) { response in
                guard case .array(let levels) = response.json?["levels"] else { Issue.record("no levels"); return }
                #expect(levels.first { $0["scope"]?.stringValue == "organization" }?["daily_budget"]?["spent"]?.stringValue == "0.002")
            }
        }
        try await fixture.cleanUp()
        await server.stop()
    }

    /// The metric families of a Prometheus exposition (`# TYPE` lines) with no, or an
    /// empty, `# HELP` line.
    static func familiesWithoutHelp(_ text: String) -> [String] {
        let lines = text.split(separator: "\n")
        let helped = Set(lines.compactMap { line -> Substring? in
            let words = line.split(separator: " ", maxSplits: 3)
            return words.count == 4 && words[0] == "#" && words[1] == "HELP" ? words[2] : nil
        })
        return lines.compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard words.count == 4, words[0] == "#", words[1] == "TYPE", !helped.contains(words[2]) else { return nil }
            return String(words[2])
        }
    }
}
