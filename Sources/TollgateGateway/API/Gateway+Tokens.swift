import Hummingbird
import Logging
import TollgateCore

/// `POST /v1/tokens/count` answer.
struct TokenCountBody: Encodable {
    var inputTokens: Int64
    var tokenizer: String
    var exact: Bool

    enum CodingKeys: String, CodingKey {
        case tokenizer, exact
        case inputTokens = "input_tokens"
    }
}

extension Gateway {
    /// Counts a prompt (`text`, `messages` or `input`, optionally `tools`) for `model`.
    func countTokens(_ request: Request) async throws -> Response {
        let (snapshot, _, fields) = try await prelude(request, limit: configuration.promptBodyLimit)
        guard let model = try fields.model() else { throw APIError.invalid("model", "model is required") }
        guard let count = try await promptCount(fields, model: model, snapshot: snapshot) else {
            throw APIError.invalid("text", "one of text, messages or input is required")
        }
        return JSONResponse.make(TokenCountBody(inputTokens: count.tokens, tokenizer: count.tokenizer.description, exact: count.exact))
    }

    /// A reserve's input estimate: `input_tokens` as sent, or the gateway's count of the
    /// prompt (`messages`, `input` or `text`) — one of the two, not both.
    func inputEstimate(_ fields: RequestFields, model: String, snapshot: GatewaySnapshot) async throws -> Int64 {
        let declared = try fields.count("input_tokens")
        guard let counted = try await promptCount(fields, model: model, snapshot: snapshot) else {
            guard let declared else { throw APIError.invalid("input_tokens", "input_tokens (or the prompt: messages, input or text) is required") }
            return declared
        }
        guard declared == nil else {
            throw APIError.invalid("input_tokens", "send input_tokens or the prompt (messages, input or text), not both")
        }
        guard counted.tokens <= TokenUsage.maximumPerClass else {
            throw APIError.invalid("messages", "the prompt counts \(counted.tokens) tokens, more than the maximum of \(TokenUsage.maximumPerClass)")
        }
        metrics.promptCounted(tokenizer: counted.tokenizer.description)
        return counted.tokens
    }

    /// Records a settled reservation's estimate error (tollgate_estimate_error_ratio).
    func recordEstimateError(_ settlement: Settlement, snapshot: GatewaySnapshot) {
        guard let estimated = settlement.estimatedTokens, settlement.usage.total > 0 else { return }
        let model = snapshot.configuration.pricing.entry(named: settlement.model)?.model ?? "other"
        metrics.estimateError(model: model, ratio: Double(estimated - settlement.usage.total) / Double(settlement.usage.total))
    }

    /// The count of the request's prompt, or nil when it has none.
    func promptCount(_ fields: RequestFields, model: String, snapshot: GatewaySnapshot) async throws -> PromptCount? {
        let found: Prompt?
        do {
            found = try Prompt(body: fields.object)
        } catch {
            throw APIError.invalid(error.field, error.message)
        }
        guard let prompt = found else { return nil }
        let counter = try await promptCounter(model: model, snapshot: snapshot)
        do {
            return try counter.count(prompt)
        } catch {
            throw APIError.invalid(error.field, error.message)
        }
    }

    /// The counter of `model`'s tokenizer (loaded off the cooperative pool on first use).
    func promptCounter(model: String, snapshot: GatewaySnapshot) async throws -> PromptCounter {
        let choice = snapshot.configuration.pricing.tokenizer(for: model)
        do {
            return try await PromptCounter.load(choice: choice, model: model)
        } catch {
            logger.error("tokenizer unavailable", metadata: ["tokens.tokenizer": "\(choice)", "error": "\(error)"])
            throw APIError(.internalServerError, "tokenizer_unavailable", "the \(choice) tokenizer could not be loaded")
        }
    }
}
