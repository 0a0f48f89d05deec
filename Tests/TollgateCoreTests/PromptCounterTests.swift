import Foundation
import Testing
import TollgateCore
import TollgateTokenizer

/// Chat, tool and image counting against the examples OpenAI publishes with its counting guide
/// (openai-cookbook, "How to count tokens with tiktoken": the API's own prompt_tokens).
@Suite struct PromptCounterTests {
    static let guideMessages = """
        [{"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
         {"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},
         {"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},
         {"role":"system","name":"example_user","content":"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
         {"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},
         {"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}]
        """

    static let weatherTools = """
        [{"type":"function","function":{"name":"get_current_weather","description":"Get the current weather in a given location",
          "parameters":{"type":"object","properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"},
          "unit":{"type":"string","description":"The unit of temperature to return","enum":["celsius","fahrenheit"]}},"required":["location"]}}}]
        """

    static let weatherMessages = """
        [{"role":"system","content":"You are a helpful assistant that can answer to questions about the weather."},
         {"role":"user","content":"What's the weather like in San Francisco?"}]
        """

    static func count(_ model: String, _ body: String) throws -> PromptCount {
        let object = try #require(try JSONValue.parse(body).objectValue)
        let prompt = try #require(try Prompt(body: object))
        return try PromptCounter(choice: TokenizerChoice.inferred(model: model), model: model).count(prompt)
    }

    @Test(arguments: [("gpt-3.5-turbo", 129), ("gpt-4", 129), ("gpt-4-0613", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)])
    func chatMessagesCountAsTheGuidePublishes(model: String, expected: Int64) throws {
        let count = try Self.count(model, #"{"messages":\#(Self.guideMessages)}"#)
        #expect(count.tokens == expected)
        #expect(count.exact)
    }

    @Test(arguments: [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)])
    func toolsCountAsTheGuidePublishes(model: String, expected: Int64) throws {
        let count = try Self.count(model, #"{"messages":\#(Self.weatherMessages),"tools":\#(Self.weatherTools)}"#)
        #expect(count.tokens == expected)
        #expect(count.exact)
    }

    /// A 1024×1024 PNG at high detail is 4 tiles: 85 + 4 × 170 = 765 (OpenAI's vision guide);
    /// low detail is 85; an image the gateway cannot size is the largest tiling, not exact.
    @Test func imagesByDetailAndTiles() throws {
        var png: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 4, 0, 0, 0, 4, 0]
        png += [UInt8](repeating: 0, count: 16)
        let url = "data:image/png;base64," + Data(png).base64EncodedString()
        func message(_ detail: String, _ url: String) -> String {
            #"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"\#(url)","detail":"\#(detail)"}}]}]}"#
        }
        let overhead: Int64 = 3 + 1 + 3  // message, role "user", reply priming
        #expect(try Self.count("gpt-4o", message("high", url)).tokens == overhead + 765)
        #expect(try Self.count("gpt-4o", message("high", url)).exact)
        #expect(try Self.count("gpt-4o", message("low", "https://example.com/cat.png")).tokens == overhead + 85)
        let unknown = try Self.count("gpt-4o", message("auto", "https://example.com/cat.png"))
        #expect(unknown.tokens == overhead + 85 + 8 * 170)
        #expect(!unknown.exact)
    }

    @Test func estimatorsScaleTheO200kCountAndAreNotExact() throws {
        let text = #"{"text":"The quick brown fox jumps over the lazy dog."}"#
        let exact = try Self.count("gpt-4o", text)
        let claude = try Self.count("claude-sonnet-4", text)
        #expect(exact.tokens == 10)
        #expect(claude.tokens == (10 * 1250 + 999) / 1000)
        #expect(!claude.exact)
        #expect(claude.tokenizer.description == "estimate:1.25")
    }

    @Test func responsesInputAndAnthropicSystemAreCounted() throws {
        let responses = try Self.count("gpt-4o", #"{"input":"Hello there","instructions":"Be brief."}"#)
        #expect(responses.tokens > 6)
        #expect(!responses.exact)
        let plain = try Self.count("claude-sonnet-4", #"{"messages":[{"role":"user","content":"Hi"}]}"#)
        let withSystem = try Self.count("claude-sonnet-4", #"{"system":"You are terse.","messages":[{"role":"user","content":"Hi"}]}"#)
        #expect(withSystem.tokens > plain.tokens)
    }

    @Test(arguments: [
        #"{"text":"a","messages":[]}"#, #"{"messages":"hi"}"#, #"{"text":5}"#, #"{"messages":[],"tools":{}}"#,
        #"{"messages":[],"system":5}"#, #"{"messages":[5]}"#, #"{"input":5}"#,
    ])
    func malformedPromptsAreErrors(body: String) throws {
        #expect(throws: PromptError.self) { _ = try Self.count("gpt-4o", body) }
    }

    @Test(arguments: [
        ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"), ("gpt-4.1-nano", "o200k_base"), ("gpt-5", "o200k_base"),
        ("o3", "o200k_base"), ("o4-mini", "o200k_base"), ("openai/gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"), ("text-embedding-3-small", "cl100k_base"),
        ("claude-sonnet-4", "estimate:1.25"), ("anthropic/claude-3-5-haiku", "estimate:1.25"), ("gemini-2.5-flash", "estimate:1.10"),
    ])
    func theModelNameImpliesItsTokenizer(model: String, tokenizer: String) {
        #expect(TokenizerChoice.inferred(model: model).description == tokenizer)
    }

    @Test func everyShippedModelHasTheTokenizerItsNameImplies() throws {
        let shipped = try DefaultCatalogue.load()
        for model in shipped.models {
            #expect(model.tokenizer == TokenizerChoice.inferred(model: model.model, provider: model.provider), "\(model.model)")
        }
    }

    @Test func tokenizerChoicesParseAndRoundTrip() throws {
        for text in ["o200k_base", "cl100k_base", "estimate:1.25", "estimate:0.50", "estimate:4.00"] {
            #expect(try TokenizerChoice(parsing: text).description == text)
        }
        for bad in ["p50k_base", "estimate:", "estimate:0.1", "estimate:5", "estimate:1.2345", "estimate:-1", ""] {
            #expect(throws: PricingError.self) { _ = try TokenizerChoice(parsing: bad) }
        }
        let entry = ModelPricing(model: "m", provider: "anthropic", versions: [], tokenizer: .estimate(perMille: 1300))
        let decoded = try JSONDecoder().decode(ModelPricing.self, from: JSONEncoder().encode(entry))
        #expect(decoded.tokenizer == .estimate(perMille: 1300))
        let legacy = try JSONDecoder().decode(ModelPricing.self, from: Data(#"{"model":"gpt-4o","provider":"openai","versions":[]}"#.utf8))
        #expect(legacy.tokenizer == .exact(.o200kBase))
    }
}
