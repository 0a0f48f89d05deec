import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The one error shape of the API: `{"error": {"code": ..., "message": ..., "field": ...}}`
/// with a 4xx or 5xx status. Messages never name other customers.
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
    }

    public static func malformed(_ message: String) -> APIError { APIError(.badRequest, "malformed_json", message) }
    public static func invalid(_ field: String, _ message: String) -> APIError { APIError(.unprocessableContent, "invalid_request", message, field: field) }
    static let unauthorized = APIError(.unauthorized, "unauthorized", "a valid service token is required (Authorization: Bearer <token>)",
                                       headers: [.wwwAuthenticate: "Bearer"])
    static let forbiddenOrganization = APIError(.forbidden, "forbidden", "this service token may not act for the api_key's organization")
    public static let unsupportedMediaType = APIError(.unsupportedMediaType, "unsupported_media_type", "the body must be JSON, sent as Content-Type: application/json")
    public static let tooLarge = APIError(.contentTooLarge, "body_too_large", "the request body is larger than the limit")
    static let notReady = APIError(.serviceUnavailable, "not_ready", "the gateway has no configuration yet")

    public func response() -> Response {
        var error: [String: String] = ["code": code, "message": message]
        if let field { error["field"] = field }
        return JSONResponse.make(status: status, ["error": error], headers: headers)
    }
}

/// JSON responses, keys in declaration order.
public enum JSONResponse {
    public static func make(status: HTTPResponse.Status = .ok, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let bytes = (try? StreamingJSONEncoder.encode(value)) ?? Array(#"{"error":{"code":"internal","message":"response encoding failed"}}"#.utf8)
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
