import TollgateCore

/// Follows a proxied response for the provider's usage object and the output text relayed
/// so far (what a cut stream is billed by when the usage never comes). Pure: fed one
/// server-sent event (or one whole body) at a time.
struct ProxyUsageTracker {
    let api: ProviderAPI
    /// For OpenAI chat streams: false when the gateway added `stream_options.include_usage`
    /// and the client must not see the extra usage chunk.
    let clientWantsUsageChunk: Bool

    /// The provider's final usage object, once seen.
    private(set) var usage: JSONValue?
    /// Anthropic streams: `message_start`'s usage, completed by `message_delta`.
    private var startUsage: [String: JSONValue]?
    /// Output text relayed to the client (content, tool arguments, reasoning text).
    private(set) var relayedText = ""

    init(api: ProviderAPI, clientWantsUsageChunk: Bool = true) {
        self.api = api
        self.clientWantsUsageChunk = clientWantsUsageChunk
    }

    /// A non-streaming body: its `usage`.
    mutating func observeBody(_ body: JSONValue) {
        if let found = body["usage"], found.objectValue != nil { usage = found }
        switch api {
        case .openAIChat:
            for choice in body["choices"]?.arrayValue ?? [] { collect(choice["message"]) }
        case .openAIResponses:
            for item in body["output"]?.arrayValue ?? [] {
                for part in item["content"]?.arrayValue ?? [] { append(part["text"]) }
                append(item["arguments"])
            }
        case .anthropicMessages:
            for block in body["content"]?.arrayValue ?? [] { append(block["text"]); append(block["thinking"]) }
        }
    }

    /// One streamed event's data. Returns false when the event must not reach the client.
    mutating func observeEvent(_ data: [UInt8]) -> Bool {
        guard data.first == UInt8(ascii: "{"), let event = try? JSONValue.parse(data) else { return true }
        switch api {
        case .openAIChat:
            let choices = event["choices"]?.arrayValue ?? []
            for choice in choices { collect(choice["delta"]) }
            if let found = event["usage"], found.objectValue != nil {
                usage = found
                if choices.isEmpty && !clientWantsUsageChunk { return false }
            }
        case .openAIResponses:
            switch event["type"]?.stringValue ?? "" {
            case "response.output_text.delta", "response.function_call_arguments.delta", "response.refusal.delta",
                 "response.reasoning_summary_text.delta":
                append(event["delta"])
            case "response.completed", "response.incomplete", "response.failed":
                if let found = event["response"]?["usage"], found.objectValue != nil { usage = found }
            default: break
            }
        case .anthropicMessages:
            switch event["type"]?.stringValue ?? "" {
            case "message_start":
                startUsage = event["message"]?["usage"]?.objectValue
            case "content_block_delta":
                let delta = event["delta"]
                append(delta?["text"]); append(delta?["partial_json"]); append(delta?["thinking"])
            case "message_delta":
                // Counts here are cumulative and override message_start's.
                var merged = startUsage ?? [:]
                for (name, value) in event["usage"]?.objectValue ?? [:] where !value.isNull { merged[name] = value }
                if merged["input_tokens"] != nil && merged["output_tokens"] != nil { usage = .object(merged) }
            default: break
            }
        }
        return true
    }

    private mutating func collect(_ message: JSONValue?) {
        guard let message else { return }
        append(message["content"])
        append(message["refusal"])
        for call in message["tool_calls"]?.arrayValue ?? [] { append(call["function"]?["arguments"]) }
    }

    private mutating func append(_ value: JSONValue?) {
        if let text = value?.stringValue { relayedText += text }
    }
}

extension JSONValue {
    var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }
}
