import HTTPTypes
import TollgateCore
import TollgateGateway
import TollgateRedis

/// `Idempotency-Key` for the admin API's POST routes, kept in Redis for a retention time.
///
/// The first request with a key claims it (`SET … NX GET`, one round trip) and runs; a
/// success is stored with its answer, which every retry with the same key and the same
/// request gets back; a refusal (4xx) or failure frees the key, so it changes nothing. A retry
/// that arrives while the first still runs waits for its answer. The same key with a
/// different request is refused (409: the key is taken). Keys are per admin token.
struct IdempotencyStore: Sendable {
    let redis: any RedisExecutor
    let keys: KeyLayout
    let retention: Duration
    let wait: Duration

    static let maximumKeyLength = 255

    /// What a request with a key should do.
    enum Claim: Sendable, Equatable {
        /// Run it, then ``finish(_:key:fingerprint:reply:)``.
        case run
        /// Answer with the first request's reply.
        case replay(AdminReply)
    }

    static func validate(_ key: String) throws(APIError) {
        guard AdminFormat.matches(key, AdminFormat.idempotencyKey) else {
            throw APIError(.badRequest, "invalid_idempotency_key",
                           "Idempotency-Key must be 1-\(maximumKeyLength) printable ASCII characters, without a space at either end")
        }
    }

    func claim(token: String, key: String, fingerprint: String) async throws -> Claim {
        let redisKey = keys.adminIdempotency(token: token, key: key)
        let milliseconds = retention.components.seconds * 1_000
        let deadline = ContinuousClock.now + wait
        while true {
            let previous = try await redis.send(.keyed("SET", redisKey, IdempotencyRecord.pending(fingerprint: fingerprint).bytes,
                                                       "NX", "GET", "PX", milliseconds))
            guard let bytes = previous.bytes else { return .run }
            guard let record = IdempotencyRecord(bytes) else {
                throw APIError(.internalServerError, "internal", "the stored idempotency record cannot be read")
            }
            guard record.fingerprint == fingerprint else {
                throw APIError(.conflict, "idempotency_key_reused",
                               "this Idempotency-Key was used with a different request; use a new key for a new request")
            }
            if case .done(_, let reply) = record { return .replay(reply) }
            guard ContinuousClock.now < deadline else {
                throw APIError(.conflict, "idempotency_in_progress", "a request with this Idempotency-Key is still running; retry shortly")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stores a success for retries; frees the key after anything else.
    func finish(token: String, key: String, fingerprint: String, reply: AdminReply?) async {
        let redisKey = keys.adminIdempotency(token: token, key: key)
        if let reply, (200..<300).contains(reply.status.code) {
            _ = try? await redis.send(.keyed("SET", redisKey, IdempotencyRecord.done(fingerprint: fingerprint, reply: reply).bytes,
                                             "PX", retention.components.seconds * 1_000))
        } else {
            _ = try? await redis.send(.keyed("DEL", redisKey))
        }
    }
}
