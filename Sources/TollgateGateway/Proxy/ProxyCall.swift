import Foundation
import HTTPTypes
import TollgateCore

/// One proxied call as the gateway understood it: who, what, the bound it reserved, and
/// the body it sends upstream.
struct ProxyCall: Sendable {
    let api: ProviderAPI
    let requestID: String
    let apiKey: String
    let model: String
    let stream: Bool
    let user: String?
    let feature: String?
    let session: String?
    let experiment: String?
    let maxOutputTokens: Int64?
    /// The body as the client sent it, or rewritten to ask for streamed usage.
    let upstreamBody: [UInt8]
    /// The gateway added `stream_options.include_usage`: the usage chunk is not relayed.
    let hidesUsageChunk: Bool
    let body: JSONValue

    /// Reads the call from the request's headers (key, attribution, request id) and body.
    init(_ api: ProviderAPI, headers: HTTPFields, body bytes: [UInt8]) throws(APIError) {
        self.api = api
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw .malformed("the body is not valid JSON: \(error.description)")
        }
        let fields = try RequestFields(json)
        body = json
        guard let model = try fields.model() else { throw .invalid("model", "model is required") }
        self.model = model
        stream = try fields.bool("stream") ?? false
        var bound: Int64?
        for name in api.outputBoundFields where bound == nil { bound = try fields.count(name) }
        maxOutputTokens = bound

        guard let key = headers[ProxyHeaders.apiKey], !key.isEmpty else {
            throw APIError(.unprocessableContent, "invalid_request", "the customer's API key is required in the x-tollgate-api-key header",
                           field: "x-tollgate-api-key")
        }
        guard Identifier.isValid(key) else {
            throw .invalid("x-tollgate-api-key", "x-tollgate-api-key must be 1-64 letters, digits, '.', '_' or '-'")
        }
        apiKey = key
        user = try Self.attribution(headers, ProxyHeaders.user)
        feature = try Self.attribution(headers, ProxyHeaders.feature)
        session = try Self.attribution(headers, ProxyHeaders.session)
        experiment = try Self.attribution(headers, ProxyHeaders.experiment)
        if let id = headers[ProxyHeaders.requestID] {
            guard !id.isEmpty, id.utf8.count <= RequestFields.maximumIdentifierLength, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw .invalid("x-tollgate-request-id", "x-tollgate-request-id must be 1-\(RequestFields.maximumIdentifierLength) visible ASCII characters")
            }
            requestID = id
        } else {
            requestID = "px_" + UUID().uuidString.lowercased()
        }

        // OpenAI chat streams report usage only when asked: ask, and hide the extra chunk
        // from a client that did not.
        if api == .openAIChat && stream && json["stream_options"]?["include_usage"]?.boolValue != true, case .object(var members) = json {
            var options = members["stream_options"]?.objectValue ?? [:]
            options["include_usage"] = .bool(true)
            members["stream_options"] = .object(options)
            upstreamBody = Array(JSONValue.object(members).compactText.utf8)
            hidesUsageChunk = true
        } else {
            upstreamBody = bytes
            hidesUsageChunk = false
        }
    }

    /// user, feature, session, experiment headers: at most 128 characters, no control characters.
    private static func attribution(_ headers: HTTPFields, _ name: HTTPField.Name) throws(APIError) -> String? {
        guard let text = headers[name], !text.isEmpty else { return nil }
        let field = name.canonicalName
        guard text.count <= RequestFields.maximumAttributionLength else {
            throw .invalid(field, "\(field) must be at most \(RequestFields.maximumAttributionLength) characters")
        }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .invalid(field, "\(field) must not contain control characters")
        }
        return text
    }
}
