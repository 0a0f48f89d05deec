import TollgateCore

/// Proxy mode's token counts, by the gateway's own counter (Docs/tokens.md): the prompt
/// before the call, exactly as `/v1/reserve` counts `messages` / `input`, and the output
/// text already relayed when a stream ends before the provider reported usage.
struct PromptTokens: Sendable {
    let counter: PromptCounter
    /// The prompt's tokens: the reservation's input.
    let prompt: Int64

    /// Tokens of relayed output text.
    func text(_ text: String) -> Int64 {
        guard !text.isEmpty else { return 0 }
        return (try? counter.count(.text(text)).tokens) ?? Int64(text.utf8.count)
    }
}

extension Gateway {
    /// Counts a proxied call's prompt (chat or Anthropic `messages` with `system`, Responses
    /// `input` with `instructions`, and `tools`) through the same step as `/v1/reserve`.
    func proxyPromptTokens(_ call: ProxyCall, model: String, snapshot: GatewaySnapshot) async throws -> PromptTokens {
        // A Responses body's `text` is its output format, not a prompt.
        guard case .object(var members) = call.body else { throw APIError.invalid("body", "the body must be a JSON object") }
        if call.api == .openAIResponses { members["text"] = nil }
        let fields = try RequestFields(.object(members))
        guard fields.object[call.api.promptField] != nil else {
            throw APIError.invalid(call.api.promptField, "\(call.api.promptField) is required")
        }
        let prompt = try await inputEstimate(fields, model: model, snapshot: snapshot)
        return PromptTokens(counter: try await promptCounter(model: model, snapshot: snapshot), prompt: prompt)
    }
}
