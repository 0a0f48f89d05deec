import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateGateway

/// `POST /v1/tokens/count`, reserve with a prompt, the prompt body limit and the estimate
/// error histogram, through the router on a real Redis.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"))
struct TokenRouteTests {
    static let guideMessages = PromptCounterExamples.guideMessages

    @Test func countsChatMessagesAsOpenAIBillsThem() async throws {
        let fixture = try await GatewayFixture.make()
        try await fixture.run { client in
            for (model, expected, tokenizer) in [("gpt-4o", 124, "o200k_base"), ("gpt-4", 129, "cl100k_base")] {
                try await client.execute(uri: "/v1/tokens/count", method: .post, headers: GatewayFixture.headers(),
                                         body: GatewayFixture.body(#"{"model":"\#(model)","messages":\#(Self.guideMessages)}"#)) { response in
                    #expect(response.status == .ok)
                    #expect(response.json?["input_tokens"]?.integerValue == Int64(expected))
                    #expect(response.json?["tokenizer"]?.stringValue == tokenizer)
                    #expect(response.json?["exact"] == .bool(true))
                }
            }
            try await client.execute(uri: "/v1/tokens/count", method: .post, headers: GatewayFixture.headers(token: nil),
                                     body: GatewayFixture.body(#"{"model":"gpt-4o","text":"hi"}"#)) { #expect($0.status == .unauthorized) }
        }
        try await fixture.cleanUp()
    }

    @Test func reserveCountsThePromptAndReservesTheOutput() async throws {
        let fixture = try await GatewayFixture.make()
        let text = String(repeating: "lorem ipsum dolor sit amet ", count: 50)
        let expected = try PromptCounter(choice: .inferred(model: "test-model", provider: "openai"), model: "test-model").count(.text(text)).tokens
        try await fixture.run { client in
            try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"t1","api_key":"k1","model":"test-model","text":"\#(text)","max_output_tokens":40}"#)) { response in
                #expect(response.status == .ok)
                #expect(response.json?["reserved_tokens"]?.integerValue == expected + 40)
            }
            // Without max_output_tokens, the tier's default output (100) is reserved.
            try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"t2","api_key":"k1","model":"test-model","text":"\#(text)"}"#)) { response in
                #expect(response.json?["reserved_tokens"]?.integerValue == expected + 100)
            }
            try await client.execute(uri: "/v1/commit", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"t1","api_key":"k1","usage":{"prompt_tokens":\#(expected),"completion_tokens":10,"total_tokens":\#(expected + 10)}}"#)) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("# HELP tollgate_estimate_error_ratio "))
                #expect(text.contains(#"tollgate_estimate_error_ratio_count{model="test-model"} 1"#))
                #expect(text.contains(#"tollgate_prompts_counted_total{tokenizer="o200k_base"} 2"#))
            }
        }
        try await fixture.cleanUp()
    }

    @Test func badPromptsAreRefusedAndChangeNothing() async throws {
        let fixture = try await GatewayFixture.make()
        let before = try await fixture.quotaState()
        let cases = [
            #"{"request_id":"b","api_key":"k1","model":"test-model","input_tokens":5,"text":"hi"}"#,
            #"{"request_id":"b","api_key":"k1","model":"test-model","messages":"hi"}"#,
            #"{"request_id":"b","api_key":"k1","model":"test-model","messages":[1]}"#,
            #"{"request_id":"b","api_key":"k1","model":"test-model","text":"a","input":"b"}"#,
            #"{"request_id":"b","api_key":"k1","model":"test-model","messages":[],"tools":5}"#,
            #"{"request_id":"b","api_key":"k1","model":"test-model"}"#,
        ]
        try await fixture.run { client in
            for body in cases {
                try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(body)) { response in
                    #expect(response.status == .unprocessableContent, "\(body)")
                    #expect(response.errorCode == "invalid_request", "\(body)")
                }
            }
        }
        #expect(try await fixture.quotaState() == before)
        try await fixture.cleanUp()
    }

    @Test func promptRoutesTakeBodiesUpToTheirOwnLimit() async throws {
        #expect(GatewayConfiguration().promptBodyLimit == 8 * 1024 * 1024)
        let fixture = try await GatewayFixture.make(GatewayFixture.configuration(standard: Limits(tpm: 1_000_000)),
                                                    gatewayConfiguration: GatewayConfiguration(bodyLimit: 64 * 1024, promptBodyLimit: 512 * 1024))
        let within = String(repeating: "word ", count: 80_000)  // 400 KB
        let beyond = String(repeating: "word ", count: 110_000)  // 550 KB
        let counted = try PromptCounter(choice: .inferred(model: "test-model", provider: "openai"), model: "test-model").count(.text(within)).tokens
        try await fixture.run { client in
            try await client.execute(uri: "/v1/reserve", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"big","api_key":"k1","model":"test-model","text":"\#(within)","max_output_tokens":0}"#)) { response in
                #expect(response.status == .ok)
                #expect(response.json?["reserved_tokens"]?.integerValue == counted)
            }
            for uri in ["/v1/reserve", "/v1/tokens/count"] {
                try await client.execute(uri: uri, method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                    #"{"request_id":"huge","api_key":"k1","model":"test-model","text":"\#(beyond)"}"#)) { response in
                    #expect(response.status == .contentTooLarge)
                    #expect(response.errorCode == "body_too_large")
                }
            }
            // Other routes keep the small limit.
            try await client.execute(uri: "/v1/commit", method: .post, headers: GatewayFixture.headers(), body: GatewayFixture.body(
                #"{"request_id":"big","api_key":"k1","usage":{"input_tokens":1,"output_tokens":0},"feature":"\#(String(repeating: "x", count: 70_000))"}"#)) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
        try await fixture.cleanUp()
    }
}

enum PromptCounterExamples {
    /// The chat example of OpenAI's counting guide (gpt-4: 129 prompt tokens, gpt-4o: 124).
    static let guideMessages = """
        [{"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},\
        {"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},\
        {"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},\
        {"role":"system","name":"example_user","content":"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},\
        {"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},\
        {"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}]
        """
}
