import HTTPTypes
import Testing
import TollgateCore
@testable import TollgateGateway

/// Proxy mode's pure parts: event framing, usage following, request reading, error shapes.
@Suite struct ProxyUnitTests {
    @Test func scannerYieldsWholeEventsHoweverTheBytesAreSplit() {
        let stream = Array("data: {\"a\":1}\n\nevent: x\r\ndata: two\r\n\r\ndata: [DONE]\n\n".utf8)
        for split in 1..<stream.count {
            var scanner = ServerSentEventScanner()
            let events = scanner.append(stream[..<split]) + scanner.append(stream[split...])
            #expect(events.map { String(decoding: $0, as: UTF8.self) } == ["data: {\"a\":1}\n\n", "event: x\r\ndata: two\r\n\r\n", "data: [DONE]\n\n"],
                    "split at \(split)")
            #expect(scanner.pendingCount == 0)
        }
        #expect(ServerSentEventScanner.data(of: Array("event: x\r\ndata: a\ndata: b\n\n".utf8)).map { String(decoding: $0, as: UTF8.self) } == "a\nb")
        #expect(ServerSentEventScanner.data(of: Array(": comment\n\n".utf8)) == nil)
    }

    @Test func openAIChatStreamHidesOnlyTheUsageChunkItAskedFor() throws {
        var tracker = ProxyUsageTracker(api: .openAIChat, clientWantsUsageChunk: false)
        let relayed = [
            #"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#, #"{"choices":[{"index":0,"delta":{"content":"lo"}}],"usage":null}"#,
            #"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#, "[DONE]",
        ].map { tracker.observeEvent(Array($0.utf8)) }
        #expect(relayed == [true, true, false, true])
        #expect(tracker.relayedText == "Hello")
        let usage = try #require(tracker.usage)
        #expect(try ProviderUsage.normalise(usage, format: .openAIChat).0 == TokenUsage(input: 9, output: 2))

        var asked = ProxyUsageTracker(api: .openAIChat, clientWantsUsageChunk: true)
        let shown = asked.observeEvent(Array(#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#.utf8))
        #expect(shown)
    }

    @Test func anthropicStreamUsageIsMessageStartCompletedByMessageDelta() throws {
        var tracker = ProxyUsageTracker(api: .anthropicMessages)
        _ = tracker.observeEvent(Array(#"{"type":"message_start","message":{"usage":{"input_tokens":25,"cache_read_input_tokens":5,"output_tokens":1}}}"#.utf8))
        _ = tracker.observeEvent(Array(#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#.utf8))
        #expect(tracker.usage == nil, "message_start's output count is not final")
        _ = tracker.observeEvent(Array(#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#.utf8))
        let usage = try #require(tracker.usage)
        #expect(try ProviderUsage.normalise(usage, format: .anthropic).0 == TokenUsage(input: 25, cachedInput: 5, output: 15))
        #expect(tracker.relayedText == "Hi")
    }

    @Test func responsesStreamUsageComesWithTheTerminalEvent() throws {
        var tracker = ProxyUsageTracker(api: .openAIResponses)
        _ = tracker.observeEvent(Array(#"{"type":"response.output_text.delta","delta":"ab"}"#.utf8))
        #expect(tracker.usage == nil)
        _ = tracker.observeEvent(Array(#"{"type":"response.completed","response":{"usage":{"input_tokens":7,"output_tokens":3,"total_tokens":10}}}"#.utf8))
        #expect(try ProviderUsage.normalise(try #require(tracker.usage), format: .openAIResponses).0 == TokenUsage(input: 7, output: 3))
        #expect(tracker.relayedText == "ab")
    }

    static func headers(_ extra: [(String, String)] = []) -> HTTPFields {
        var fields: HTTPFields = [ProxyHeaders.apiKey: "k1"]
        for (name, value) in extra { fields[HTTPField.Name(name)!] = value }
        return fields
    }

    @Test func chatStreamsAskForUsageAndKeepEverythingElse() throws {
        let body = #"{"model":"gpt-4o","stream":true,"temperature":0.70,"messages":[{"role":"user","content":"hi"}],"max_tokens":12}"#
        let call = try ProxyCall(.openAIChat, headers: Self.headers([("x-tollgate-user", "u1")]), body: Array(body.utf8))
        #expect(call.hidesUsageChunk && call.maxOutputTokens == 12 && call.user == "u1" && call.requestID.hasPrefix("px_"))
        let sent = try JSONValue.parse(call.upstreamBody)
        #expect(sent["stream_options"]?["include_usage"] == .bool(true))
        #expect(sent["temperature"] == .number("0.70"), "numbers keep their exact text")
        #expect(sent["messages"] == (try JSONValue.parse(body))["messages"])

        let asked = #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#
        let unchanged = try ProxyCall(.openAIChat, headers: Self.headers(), body: Array(asked.utf8))
        #expect(!unchanged.hidesUsageChunk && unchanged.upstreamBody == Array(asked.utf8), "a body that already asks is forwarded byte for byte")
        let plain = try ProxyCall(.anthropicMessages, headers: Self.headers(), body: Array(#"{"model":"claude-sonnet-4","max_tokens":5,"stream":true}"#.utf8))
        #expect(!plain.hidesUsageChunk && plain.maxOutputTokens == 5)
    }

    @Test(arguments: [
        (#"{"model":"m"#, "x-tollgate-api-key", "k1", "malformed_json"),
        (#"[1]"#, "x-tollgate-api-key", "k1", "invalid_request"),
        (#"{"messages":[]}"#, "x-tollgate-api-key", "k1", "invalid_request"),
        (#"{"model":"m","max_tokens":-1}"#, "x-tollgate-api-key", "k1", "invalid_request"),
        (#"{"model":"m","stream":"yes"}"#, "x-tollgate-api-key", "k1", "invalid_request"),
        (#"{"model":"m"}"#, "x-tollgate-user", "u", "invalid_request"),
        (#"{"model":"m"}"#, "x-tollgate-api-key", "bad key!", "invalid_request"),
    ])
    func badCallsAreRefusedWithTheirReason(body: String, header: String, value: String, code: String) {
        var fields = HTTPFields()
        fields[HTTPField.Name(header)!] = value
        #expect(throws: APIError.self) { try ProxyCall(.openAIChat, headers: fields, body: Array(body.utf8)) }
        do {
            _ = try ProxyCall(.openAIChat, headers: fields, body: Array(body.utf8))
        } catch {
            #expect(error.code == code, "\(body) \(header)")
        }
    }

    @Test func errorsTakeEachProvidersShape() throws {
        let openAI = try JSONValue.parse(ProviderAPI.openAIChat.errorBody(status: .tooManyRequests, code: "rate_limit_exceeded", message: "slow \"down\"", field: nil))
        #expect(openAI["error"]?["type"] == .string("rate_limit_exceeded") && openAI["error"]?["param"] == .null)
        #expect(openAI["error"]?["message"] == .string("slow \"down\""))
        let anthropic = try JSONValue.parse(ProviderAPI.anthropicMessages.errorBody(status: .tooManyRequests, code: "x", message: "m", field: "f"))
        #expect(anthropic["type"] == .string("error") && anthropic["error"]?["type"] == .string("rate_limit_error"))
        #expect(ProviderAPI.anthropicMessages.serviceToken([ProxyHeaders.anthropicAPIKey: "secret"]) == "secret")
        #expect(ProviderAPI.openAIChat.serviceToken([ProxyHeaders.anthropicAPIKey: "secret"]) == nil)
        #expect(ProviderAPI.openAIResponses.serviceToken([.authorization: "Bearer  tok "]) == "tok")
    }

    @Test func upstreamsComeFromTheEnvironmentAndTheSecretsFile() throws {
        let upstreams = try ProxyConfiguration.upstreams(environment: ["TOLLGATE_OPENAI_API_KEY": "sk-1", "TOLLGATE_ANTHROPIC_BASE_URL": "http://127.0.0.1:9/v1/"],
                                                         secretsFile: nil)
        #expect(upstreams["openai"] == Upstream(provider: "openai", baseURL: "https://api.openai.com/v1", apiKey: "sk-1"))
        #expect(upstreams["anthropic"]?.baseURL == "http://127.0.0.1:9/v1" && upstreams["anthropic"]?.apiKey == nil)
        #expect(!"\(upstreams["openai"]!)".contains("sk-1"), "a description never shows the credential")
        #expect(throws: ProxyConfiguration.LoadError.self) {
            try ProxyConfiguration.upstreams(environment: ["TOLLGATE_OPENAI_BASE_URL": "ftp://x"], secretsFile: nil)
        }
        #expect(throws: ProxyConfiguration.LoadError.self) { try ProxyConfiguration.upstreams(environment: [:], secretsFile: "/nonexistent/secrets.json") }
    }
}
