import TollgateCore

/// Where proxy mode gets its token counts: the prompt before the call (the reservation's
/// input) and the text already relayed when a stream is cut before the provider reported
/// usage. The one place to switch to the gateway's exact counter (issue 12).
///
/// Until then the count is an upper bound, never an under-count: every byte of the
/// prompt's text counts as a token (a BPE token is at least one byte), plus each message's
/// framing overhead.
enum PromptTokens {
    static let perMessageOverhead: Int64 = 4
    static let replyPriming: Int64 = 3

    /// The prompt's tokens: chat `messages` (+ `tools`), Responses `input` (+ `instructions`,
    /// `tools`), Anthropic `system` + `messages` (+ `tools`).
    static func prompt(_ api: ProviderAPI, body: JSONValue, model: String) -> Int64 {
        var total = replyPriming
        for field in ["messages", "input", "system", "instructions", "tools", "functions"] {
            guard let value = body[field] else { continue }
            if case .array(let items) = value { total += Int64(items.count) * perMessageOverhead }
            total += textBytes(value)
        }
        return total
    }

    /// Tokens of relayed output text.
    static func text(_ text: String, model: String) -> Int64 {
        Int64(text.utf8.count)
    }

    private static func textBytes(_ value: JSONValue) -> Int64 {
        switch value {
        case .string(let text): Int64(text.utf8.count)
        case .array(let items): items.reduce(0) { $0 + textBytes($1) }
        case .object(let members): members.reduce(0) { $0 + Int64($1.key.utf8.count) + textBytes($1.value) }
        case .number(let literal): Int64(literal.utf8.count)
        case .bool, .null: 1
        }
    }
}
