import Foundation
import HTTPTypes
import Hummingbird
import TollgateCore
import TollgateGateway

/// One route of the admin API: method, path, the scope it needs, whether it takes a body and
/// an `Idempotency-Key`, and its handler.
struct AdminRoute: Sendable {
    typealias Handler = @Sendable (AdminCall) async throws -> AdminReply

    var method: HTTPRequest.Method
    var path: String
    var scope: AdminToken.Scope
    var handler: Handler

    /// POST and PATCH take a JSON object body.
    var takesBody: Bool { method == .post || method == .patch }
    /// Every POST takes an `Idempotency-Key`.
    var isIdempotent: Bool { method == .post }
}

/// What a handler gets: who calls, the path parameters, the query and the body.
struct AdminCall: Sendable {
    let token: AdminToken
    let parameters: [String: String]
    let query: [String: String]
    /// The JSON object body of a POST or PATCH (empty otherwise).
    let body: AdminBody

    func parameter(_ name: String) -> String { parameters[name] ?? "" }
}

/// A JSON answer, kept as bytes so an idempotent create can replay it exactly.
struct AdminReply: Sendable, Equatable {
    var status: HTTPResponse.Status
    var body: [UInt8]

    init(status: HTTPResponse.Status = .ok, bytes: [UInt8]) {
        self.status = status
        self.body = bytes
    }

    init(status: HTTPResponse.Status = .ok, _ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.init(status: status, bytes: Array(try encoder.encode(value)))
    }

    func response(headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension APIError {
    init(_ refusal: ChangeRefusal) {
        switch refusal.code {
        case .notFound: self.init(.notFound, "not_found", refusal.message, field: refusal.field)
        case .conflict: self.init(.conflict, "conflict", refusal.message, field: refusal.field)
        default: self.init(.unprocessableContent, "invalid_request", refusal.message, field: refusal.field)
        }
    }

    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static let adminUnauthorized = APIError(.unauthorized, "unauthorized", "a valid admin token is required (Authorization: Bearer <token>)",
                                            headers: [.wwwAuthenticate: "Bearer"])
    static func forbidden(_ required: AdminToken.Scope) -> APIError {
        APIError(.forbidden, "forbidden", "this admin token's scope does not allow this; it needs \(required.rawValue)")
    }
    static let notReady = APIError(.serviceUnavailable, "not_ready", "the admin API has not loaded the configuration yet; retry shortly")
}
