import Logging
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import TollgateCore
import TollgateGateway
import TollgateRedis

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}

extension AdminAPI {
    /// The steps every route shares, in order: the token, its scope, the body, the
    /// `Idempotency-Key`, the handler; every error becomes the API's JSON error.
    func dispatch(_ route: AdminRoute, _ request: Request, _ context: BasicRequestContext) async -> Response {
        do {
            let token = try await authenticate(request.headers)
            guard token.scope.covers(route.scope) else { throw APIError.forbidden(route.scope) }
            var body = AdminBody()
            var raw: [UInt8] = []
            if route.takesBody {
                guard Gateway.isJSON(request.headers[.contentType]) else { throw APIError.unsupportedMediaType }
                var request = request
                let buffer: ByteBuffer
                do { buffer = try await request.collectBody(upTo: configuration.bodyLimit) } catch { throw APIError.tooLarge }
                raw = Array(buffer.readableBytesView)
                let json: JSONValue
                do { json = try JSONValue.parse(raw) } catch { throw APIError.malformed("the body is not valid JSON: \(error.description)") }
                guard let object = json.objectValue else { throw APIError.invalid("body", "the body must be a JSON object") }
                body = AdminBody(object)
            }
            // A trailing slash or a parameter outside its format names nothing (the router
            // would otherwise match `/v1/tiers/x/` as `x`).
            guard !request.uri.path.hasSuffix("/") else { throw APIError.notFound("there is no such route") }
            var parameters: [String: String] = [:]
            for (name, value) in context.parameters {
                if let format = AdminFormat.pathParameters[String(name)], !AdminFormat.matches(String(value), format) {
                    throw APIError.notFound("there is no \(name) '\(value.prefix(64))'")
                }
                parameters[String(name)] = String(value)
            }
            var query: [String: String] = [:]
            for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
            let call = AdminCall(token: token, parameters: parameters, query: query, body: body)
            guard route.isIdempotent, let key = request.headers[.idempotencyKey] else {
                return try await run(route, call).response()
            }
            try IdempotencyStore.validate(key)
            let fingerprint = Self.fingerprint(route, request.uri.path, raw)
            switch try await idempotency.claim(token: token.id, key: key, fingerprint: fingerprint) {
            case .replay(let reply):
                return reply.response(headers: [.idempotentReplayed: "true"])
            case .run:
                let reply: AdminReply
                do {
                    reply = try await run(route, call)
                } catch {
                    await idempotency.finish(token: token.id, key: key, fingerprint: fingerprint, reply: nil)
                    throw error
                }
                await idempotency.finish(token: token.id, key: key, fingerprint: fingerprint, reply: reply)
                return reply.response()
            }
        } catch let error as APIError {
            return error.response()
        } catch let refusal as ChangeRefusal {
            return APIError(refusal).response()
        } catch let error as ConfigurationStore.StoreError {
            // The whole configuration failed its checks, or kept changing: nothing was written.
            return APIError(.conflict, "conflict", error.description).response()
        } catch let error as RedisError where error.isUnavailable {
            logger.warning("redis unavailable", metadata: ["http.route": "\(route.path)", "error": "\(error)"])
            return APIError(.serviceUnavailable, "redis_unavailable", "Redis cannot be reached; nothing was changed, retry shortly").response()
        } catch {
            logger.error("unexpected error", metadata: ["http.route": "\(route.path)", "error": "\(error)"])
            return APIError(.internalServerError, "internal", "an internal error occurred").response()
        }
    }

    private func run(_ route: AdminRoute, _ call: AdminCall) async throws -> AdminReply {
        try await route.handler(call)
    }

    /// The token of a request's `Authorization: Bearer`; 401 without a valid one. A secret
    /// not in the snapshot makes the watcher check the version once (a token created a moment
    /// ago), so a flood of bad secrets costs one `GET` each, never a document load.
    func authenticate(_ headers: HTTPFields) async throws(APIError) -> AdminToken {
        guard let value = headers[.authorization], value.count > 7, value.prefix(7).lowercased() == "bearer " else { throw .adminUnauthorized }
        let secret = value.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard !secret.isEmpty, secret.utf8.count <= 512 else { throw .adminUnauthorized }
        let hash = Secret.sha256Hex(secret)
        guard watcher.snapshot != nil else { throw .notReady }
        if let token = watcher.snapshot?.tokensByHash[hash] { return token }
        await watcher.refresh()
        guard let token = watcher.snapshot?.tokensByHash[hash] else { throw .adminUnauthorized }
        return token
    }

    /// What makes two requests "the same" for an `Idempotency-Key`: route, path and body bytes.
    static func fingerprint(_ route: AdminRoute, _ path: String, _ body: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("\(route.method.rawValue) \(path)\n".utf8))
        hasher.update(data: body)
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
