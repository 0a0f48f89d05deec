import Foundation
import Testing
@testable import TollgateCore

@Suite struct UsageTests {
    static func payload(_ name: String) throws -> JSONValue {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Payloads"))
        return try JSONValue.parse(Array(Data(contentsOf: url)))
    }

    static let catalogue = try! DefaultCatalogue.load().catalogue

    /// Each golden payload: its normalised tokens and its cost, worked out by hand.
    @Test(arguments: [
        // o4-mini ($1.10 in, $4.40 out, $0.275 cached): prompt 1200 includes 1024 cached, completion 900 includes 768 reasoning.
        // 176 × 1.10 + 1024 × 0.275 + 132 × 4.40 + 768 × 4.40 = 193.6 + 281.6 + 580.8 + 3379.2 µ$ = $0.0044352
        ("openai-chat", UsageFormat.openAIChat, "o4-mini", TokenUsage(input: 176, cachedInput: 1_024, output: 132, reasoning: 768), "0.0044352"),
        // gpt-4.1 ($2 in, $8 out, $0.50 cached): 72 × 2 + 256 × 0.50 + 52 × 8 = 144 + 128 + 416 µ$ = $0.000688
        ("openai-responses", .openAIResponses, "gpt-4.1", TokenUsage(input: 72, cachedInput: 256, output: 52), "0.000688"),
        // claude-sonnet-4 ($3 in, $15 out, $0.30 read, $3.75 write): input_tokens excludes both cache counts.
        // 50 × 3 + 8000 × 0.30 + 1200 × 3.75 + 503 × 15 = 150 + 2400 + 4500 + 7545 µ$ = $0.014595
        ("anthropic", .anthropic, "claude-sonnet-4", TokenUsage(input: 50, cachedInput: 8_000, cacheWrite: 1_200, output: 503), "0.014595"),
        // gemini-2.5-flash ($0.30 in, $2.50 out, $0.075 cached): prompt includes cached; thoughts are apart from candidates.
        // 904 × 0.30 + 4096 × 0.075 + 300 × 2.50 + 1200 × 2.50 = 271.2 + 307.2 + 750 + 3000 µ$ = $0.0043284
        ("gemini", .gemini, "gemini-2.5-flash", TokenUsage(input: 904, cachedInput: 4_096, output: 300, reasoning: 1_200), "0.0043284"),
    ] as [(String, UsageFormat, String, TokenUsage, String)])
    func goldenPayloadsNormaliseAndPrice(_ file: String, _ format: UsageFormat, _ model: String, _ expected: TokenUsage, _ cost: String) throws {
        let response = try Self.payload(file)
        let usage = try #require(response["usage"] ?? response["usageMetadata"])
        let (detected, detectedFormat) = try ProviderUsage.normalise(usage)
        #expect(detectedFormat == format)
        #expect(detected == expected)
        // The whole response works as well as its usage object (Gemini's wrapper is accepted).
        if format == .gemini { #expect(try ProviderUsage.normalise(response).0 == expected) }
        let price = try #require(Self.catalogue.resolve(model, at: 1_800_000_000_000))
        #expect(Money(nanos: price.prices.cost(of: detected)).decimalString == cost)
    }

    @Test func cachedTokensAreNeverChargedTwice() throws {
        let usage = try JSONValue.parse(#"{"prompt_tokens": 1000, "completion_tokens": 0, "prompt_tokens_details": {"cached_tokens": 1000}}"#)
        let (tokens, _) = try ProviderUsage.normalise(usage)
        #expect(tokens.input == 0 && tokens.cachedInput == 1_000 && tokens.total == 1_000)
    }

    @Test func reasoningTokensAreKept() throws {
        let usage = try JSONValue.parse(#"{"input_tokens": 10, "output_tokens": 500, "output_tokens_details": {"reasoning_tokens": 450}, "total_tokens": 510}"#)
        let (tokens, format) = try ProviderUsage.normalise(usage)
        #expect(format == .openAIResponses)
        #expect(tokens.reasoning == 450 && tokens.output == 50 && tokens.total == 510)
    }

    @Test(arguments: [
        #"{"prompt_tokens": -1, "completion_tokens": 2}"#,
        #"{"prompt_tokens": 1.5, "completion_tokens": 2}"#,
        #"{"prompt_tokens": "12", "completion_tokens": 2}"#,
        #"{"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 11}}"#,
        #"{"prompt_tokens": 10, "completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 3}}"#,
        #"{"prompt_tokens": 1000000000000, "completion_tokens": 2}"#,
        #"{"completion_tokens": 2}"#,
        #"{"tokens": 5}"#,
        #"[1, 2]"#,
        #"{"input_tokens": 5}"#,
    ])
    func malformedUsageIsRefused(_ text: String) throws {
        let value = try JSONValue.parse(text)
        #expect(throws: UsageError.self) { try ProviderUsage.normalise(value) }
    }

    @Test func explicitFormatWins() throws {
        let usage = try JSONValue.parse(#"{"input_tokens": 100, "output_tokens": 20}"#)
        #expect(try ProviderUsage.normalise(usage).1 == .anthropic)
        #expect(try ProviderUsage.normalise(usage, format: .openAIResponses).1 == .openAIResponses)
        #expect(try UsageFormat.named("anthropic") == .anthropic)
        #expect(try UsageFormat.named("openai") == nil)
        #expect(throws: UsageError.self) { try UsageFormat.named("mistral") }
    }
}

@Suite struct JSONValueTests {
    @Test func keepsNumbersAsWritten() throws {
        let value = try JSONValue.parse(#"{"a": 5.46875e-07, "b": [1, -2, 3.0], "c": "x\u00e9\n", "d": null, "e": true}"#)
        #expect(value["a"] == .number("5.46875e-07"))
        #expect(value["b"] == .array([.number("1"), .number("-2"), .number("3.0")]))
        if case .array(let elements) = value["b"] { #expect(elements[2].integerValue == 3) }
        #expect(value["c"]?.stringValue == "xé\n")
        #expect(value["d"] == .null)
        #expect(value["e"]?.boolValue == true)
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "01", "1.", "\"\\x\"", "{\"a\":1,\"a\":2}", "nul", "[1] 2", "\"\u{01}\"", "{\"a\" 1}"])
    func refusesMalformedDocuments(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(text) }
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(deep) }
    }
}
