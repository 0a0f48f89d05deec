/// The usage-object shapes Tollgate understands.
public enum UsageFormat: String, Sendable, CaseIterable, Codable {
    /// OpenAI Chat Completions: `prompt_tokens` includes `prompt_tokens_details.cached_tokens`;
    /// `completion_tokens` includes `completion_tokens_details.reasoning_tokens`.
    case openAIChat = "openai_chat"
    /// OpenAI Responses: `input_tokens` includes `input_tokens_details.cached_tokens`;
    /// `output_tokens` includes `output_tokens_details.reasoning_tokens`.
    case openAIResponses = "openai_responses"
    /// Anthropic Messages: `input_tokens` excludes `cache_creation_input_tokens` and
    /// `cache_read_input_tokens`; `output_tokens` includes thinking.
    case anthropic
    /// Gemini `usageMetadata`: `promptTokenCount` includes `cachedContentTokenCount`;
    /// `candidatesTokenCount` excludes `thoughtsTokenCount`.
    case gemini
    /// Not a provider's: the gateway's own count, when a proxied call ended without the
    /// provider's usage (a stream cut before its last event): the prompt as counted plus
    /// the output tokens relayed so far. Shaped `{"input_tokens", "output_tokens"}`.
    case counted
    /// Not a provider's: a proxied call in flight when its gateway died (SIGKILL, crash),
    /// settled from the gateway's call journal by the next owner of its spool: the prompt as
    /// counted plus the output tokens relayed up to the journal's last mark. Shaped as `counted`.
    case recovered

    /// The format named by a request's `provider` field (lower case, exactly): `openai` (Chat or
    /// Responses, detected), `anthropic`, `gemini`, or a format name such as `openai_responses`.
    /// Returns nil when the shape must be detected.
    public static func named(_ provider: String) throws(UsageError) -> UsageFormat? {
        switch provider {
        case "openai", "azure", "azure_openai": return nil
        case "anthropic", "bedrock_anthropic": return .anthropic
        case "gemini", "google", "vertex", "vertex_ai": return .gemini
        default:
            guard let format = UsageFormat(rawValue: provider), format != .counted, format != .recovered else {
                throw UsageError("unknown provider '\(provider)': use openai, openai_chat, openai_responses, anthropic or gemini")
            }
            return format
        }
    }
}

public struct UsageError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Normalises a provider's usage object into ``TokenUsage``.
public enum ProviderUsage {
    /// Reads `usage` as `format`, or detects the format when `format` is nil.
    public static func normalise(_ usage: JSONValue, format: UsageFormat? = nil) throws(UsageError) -> (TokenUsage, UsageFormat) {
        guard usage.objectValue != nil else { throw UsageError("usage must be a JSON object") }
        var object = usage
        var format = format
        // Gemini responses carry the counts under `usageMetadata`; accept the wrapper too.
        if let inner = usage["usageMetadata"], !inner.isNull {
            guard inner.objectValue != nil else { throw UsageError("'usageMetadata' must be an object") }
            guard format == nil || format == .gemini else { throw UsageError("'usageMetadata' is Gemini's usage object, but provider names another") }
            object = inner
            format = .gemini
        }
        let detected: UsageFormat
        if let format { detected = format } else { detected = try detect(object) }
        let tokens: TokenUsage
        switch detected {
        case .openAIChat:
            let prompt = try count(object, "prompt_tokens", required: true)
            let completion = try count(object, "completion_tokens", required: true)
            let cached = try count(try details(object, "prompt_tokens_details"), "cached_tokens")
            let reasoning = try count(try details(object, "completion_tokens_details"), "reasoning_tokens")
            tokens = try split(input: prompt, cached: cached, cacheWrite: 0, output: completion, reasoning: reasoning,
                               names: ("prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens"))
        case .openAIResponses:
            let input = try count(object, "input_tokens", required: true)
            let output = try count(object, "output_tokens", required: true)
            let cached = try count(try details(object, "input_tokens_details"), "cached_tokens")
            let reasoning = try count(try details(object, "output_tokens_details"), "reasoning_tokens")
            tokens = try split(input: input, cached: cached, cacheWrite: 0, output: output, reasoning: reasoning,
                               names: ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens"))
        case .counted, .recovered:
            tokens = TokenUsage(input: try count(object, "input_tokens", required: true), output: try count(object, "output_tokens", required: true))
        case .anthropic:
            tokens = TokenUsage(
                input: try count(object, "input_tokens", required: true),
                cachedInput: try count(object, "cache_read_input_tokens"),
                cacheWrite: try count(object, "cache_creation_input_tokens"),
                output: try count(object, "output_tokens", required: true))
        case .gemini:
            let prompt = try count(object, "promptTokenCount", required: true)
            let cached = try count(object, "cachedContentTokenCount")
            let toolPrompt = try count(object, "toolUsePromptTokenCount")
            let candidates = try count(object, "candidatesTokenCount")
            let thoughts = try count(object, "thoughtsTokenCount")
            guard cached <= prompt else { throw UsageError("cachedContentTokenCount (\(cached)) exceeds promptTokenCount (\(prompt))") }
            tokens = TokenUsage(input: prompt - cached + toolPrompt, cachedInput: cached, output: candidates, reasoning: thoughts)
        }
        for (name, value) in zip(["input", "cached input", "cache write", "output", "reasoning"], tokens.components)
        where value > TokenUsage.maximumPerClass {
            throw UsageError("\(name) tokens (\(value)) exceed the maximum of \(TokenUsage.maximumPerClass)")
        }
        return (tokens, detected)
    }

    static func detect(_ object: JSONValue) throws(UsageError) -> UsageFormat {
        if object["prompt_tokens"] != nil || object["completion_tokens"] != nil { return .openAIChat }
        if object["promptTokenCount"] != nil || object["candidatesTokenCount"] != nil { return .gemini }
        if object["input_tokens"] != nil {
            if object["cache_creation_input_tokens"] != nil || object["cache_read_input_tokens"] != nil { return .anthropic }
            if object["total_tokens"] != nil || object["input_tokens_details"] != nil || object["output_tokens_details"] != nil {
                return .openAIResponses
            }
            return .anthropic
        }
        throw UsageError("unrecognised usage object: expected OpenAI (prompt_tokens / input_tokens), Anthropic (input_tokens) or Gemini (promptTokenCount) fields")
    }

    /// Splits "including" totals (OpenAI, Gemini) into disjoint classes.
    private static func split(input: Int64, cached: Int64, cacheWrite: Int64, output: Int64, reasoning: Int64,
                              names: (String, String, String, String)) throws(UsageError) -> TokenUsage {
        guard cached <= input else { throw UsageError("\(names.1) (\(cached)) exceeds \(names.0) (\(input))") }
        guard reasoning <= output else { throw UsageError("\(names.3) (\(reasoning)) exceeds \(names.2) (\(output))") }
        return TokenUsage(input: input - cached, cachedInput: cached, cacheWrite: cacheWrite, output: output - reasoning, reasoning: reasoning)
    }

    /// A `*_details` object; absent or null is none, any other shape an error.
    private static func details(_ object: JSONValue, _ name: String) throws(UsageError) -> JSONValue? {
        guard let value = object[name], !value.isNull else { return nil }
        guard value.objectValue != nil else { throw UsageError("'\(name)' must be an object") }
        return value
    }

    /// A non-negative whole token count; absent or null is 0 unless required.
    private static func count(_ object: JSONValue?, _ name: String, required: Bool = false) throws(UsageError) -> Int64 {
        guard let value = object?[name], !value.isNull else {
            if required { throw UsageError("usage is missing '\(name)'") }
            return 0
        }
        guard case .number = value else { throw UsageError("'\(name)' must be a number") }
        guard let integer = value.integerValue else { throw UsageError("'\(name)' must be a whole number of tokens") }
        guard integer >= 0 else { throw UsageError("'\(name)' must not be negative") }
        guard integer <= TokenUsage.maximumPerClass else {
            throw UsageError("'\(name)' (\(integer)) exceeds the maximum of \(TokenUsage.maximumPerClass) tokens")
        }
        return integer
    }
}
