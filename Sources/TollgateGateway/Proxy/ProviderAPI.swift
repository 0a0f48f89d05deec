import HTTPTypes
import TollgateCore

/// The provider APIs proxy mode speaks: the route, the upstream, the field bounding the
/// output, the usage shape, and how a refusal must look for that provider's SDKs.
enum ProviderAPI: String, Sendable, CaseIterable {
    case openAIChat = "chat_completions"
    case openAIResponses = "responses"
    case anthropicMessages = "messages"

    /// The gateway's route.
    var path: String { "/v1" + upstreamPath }

    /// Appended to the upstream's base URL (which ends in `/v1`, as in the SDKs).
    var upstreamPath: String {
        switch self {
        case .openAIChat: "/chat/completions"
        case .openAIResponses: "/responses"
        case .anthropicMessages: "/messages"
        }
    }

    /// The upstream's provider name.
    var provider: String {
        switch self {
        case .openAIChat, .openAIResponses: "openai"
        case .anthropicMessages: "anthropic"
        }
    }

    var usageFormat: UsageFormat {
        switch self {
        case .openAIChat: .openAIChat
        case .openAIResponses: .openAIResponses
        case .anthropicMessages: .anthropic
        }
    }

    /// The request field holding the prompt.
    var promptField: String {
        switch self {
        case .openAIChat, .anthropicMessages: "messages"
        case .openAIResponses: "input"
        }
    }

    /// The request fields that bound the output, first found wins.
    var outputBoundFields: [String] {
        switch self {
        case .openAIChat: ["max_completion_tokens", "max_tokens"]
        case .openAIResponses: ["max_output_tokens"]
        case .anthropicMessages: ["max_tokens"]
        }
    }

    /// Headers that carry the caller's service token: the SDKs put their `api_key` there.
    func serviceToken(_ headers: HTTPFields) -> String? {
        if let bearer = headers[.authorization], bearer.count > 7, bearer.prefix(7).lowercased() == "bearer " {
            return String(bearer.dropFirst(7).trimmingSpaces)
        }
        if self == .anthropicMessages, let key = headers[ProxyHeaders.anthropicAPIKey] { return key }
        return nil
    }

    /// The upstream's credential header for `apiKey`.
    func credentialHeader(_ apiKey: String) -> (name: String, value: String) {
        switch self {
        case .openAIChat, .openAIResponses: ("Authorization", "Bearer \(apiKey)")
        case .anthropicMessages: ("x-api-key", apiKey)
        }
    }

    /// A refusal or error in the provider's own shape, so its SDK reacts as to the provider
    /// itself: OpenAI `{"error": {"message", "type", "param", "code"}}`, Anthropic
    /// `{"type": "error", "error": {"type", "message"}}`.
    func errorBody(status: HTTPResponse.Status, code: String, message: String, field: String?) -> [UInt8] {
        let encoded: [UInt8]?
        switch self {
        case .openAIChat, .openAIResponses:
            encoded = try? StreamingJSONEncoder.encode(OpenAIErrorBody(error: .init(message: message, type: Self.openAIType(status), param: field, code: code)))
        case .anthropicMessages:
            encoded = try? StreamingJSONEncoder.encode(AnthropicErrorBody(error: .init(type: Self.anthropicType(status), message: message)))
        }
        return encoded ?? Array(#"{"error":{"message":"response encoding failed"}}"#.utf8)
    }

    /// OpenAI's error types by status (what its SDKs and dashboards show).
    static func openAIType(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400, 413, 422: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 409: "conflict_error"
        case 429: "rate_limit_exceeded"
        case 502, 504: "upstream_error"
        default: "server_error"
        }
    }

    /// Anthropic's error types by status.
    static func anthropicType(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400, 409, 422: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 503: "overloaded_error"
        default: "api_error"
        }
    }
}

/// The request headers proxy mode reads (Docs/proxy.md).
enum ProxyHeaders {
    static let apiKey = HTTPField.Name("x-tollgate-api-key")!
    static let user = HTTPField.Name("x-tollgate-user")!
    static let feature = HTTPField.Name("x-tollgate-feature")!
    static let session = HTTPField.Name("x-tollgate-session")!
    static let experiment = HTTPField.Name("x-tollgate-experiment")!
    static let requestID = HTTPField.Name("x-tollgate-request-id")!
    static let anthropicAPIKey = HTTPField.Name("x-api-key")!
    /// Read by the OpenAI and Anthropic SDKs: whether a failed call is worth retrying.
    static let shouldRetry = HTTPField.Name("x-should-retry")!
    /// On every proxied answer: the request id the ledger knows the call by.
    static let responseRequestID = HTTPField.Name("x-tollgate-request-id")!
    /// Anthropic's rate-limit headers, set on its refusals.
    static let anthropicTokensLimit = HTTPField.Name("anthropic-ratelimit-tokens-limit")!
    static let anthropicTokensRemaining = HTTPField.Name("anthropic-ratelimit-tokens-remaining")!
    static let anthropicTokensReset = HTTPField.Name("anthropic-ratelimit-tokens-reset")!
    static let anthropicRequestsLimit = HTTPField.Name("anthropic-ratelimit-requests-limit")!
    static let anthropicRequestsRemaining = HTTPField.Name("anthropic-ratelimit-requests-remaining")!
    static let anthropicRequestsReset = HTTPField.Name("anthropic-ratelimit-requests-reset")!
    /// Request headers passed on to the upstream as they are (the rest are the gateway's or
    /// the caller's own and stay here).
    static let forwarded: [HTTPField.Name] = [
        .contentType, .accept, HTTPField.Name("anthropic-version")!, HTTPField.Name("anthropic-beta")!,
        HTTPField.Name("openai-organization")!, HTTPField.Name("openai-project")!, HTTPField.Name("openai-beta")!,
    ]
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}` (`param` null when none).
struct OpenAIErrorBody: Encodable {
    struct Detail: Encodable {
        var message: String
        var type: String
        var param: String?
        var code: String

        enum CodingKeys: String, CodingKey { case message, type, param, code }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(message, forKey: .message)
            try container.encode(type, forKey: .type)
            if let param { try container.encode(param, forKey: .param) } else { try container.encodeNil(forKey: .param) }
            try container.encode(code, forKey: .code)
        }
    }
    var error: Detail
}

/// Anthropic's error body: `{"type": "error", "error": {"type", "message"}}`.
struct AnthropicErrorBody: Encodable {
    struct Detail: Encodable {
        var type: String
        var message: String
    }
    let type = "error"
    var error: Detail
}
