import Crypto
import Synchronization
import HTTPTypes
import TollgateCore

/// Bearer service tokens: only their SHA-256 is stored; a request's token is hashed and
/// looked up in the customer cache (``Gateway/authenticate(_:snapshot:)``).
enum ServiceTokenAuthenticator {
    /// The bearer secret of an `Authorization` header.
    static func secret(_ headers: HTTPFields) -> Substring? {
        guard let value = headers[.authorization], value.count > 7, value.prefix(7).lowercased() == "bearer " else { return nil }
        return value.dropFirst(7)
    }

    /// The SHA-256 (lower-case hex) of a secret as given (proxy mode takes it from the SDK's own
    /// header, e.g. `x-api-key`); nil for an empty or oversized one.
    static func hash(secret value: some StringProtocol, cache: TokenHashCache) -> String? {
        let secret = Substring(value).trimmingSpaces
        guard !secret.isEmpty, secret.utf8.count <= 512 else { return nil }
        return cache.hash(String(secret))
    }

    static func sha256Hex(_ text: some StringProtocol) -> String { Secret.sha256Hex(text) }
}

/// Remembers the hashes of the few secrets a gateway sees, so a request costs a dictionary
/// lookup instead of a SHA-256. Bounded: past 1,024 entries it starts over.
final class TokenHashCache: Sendable {
    private let cache = Mutex<[String: String]>([:])

    func hash(_ secret: String) -> String {
        if let known = cache.withLock({ $0[secret] }) { return known }
        let hash = ServiceTokenAuthenticator.sha256Hex(secret)
        cache.withLock { cache in
            if cache.count >= 1_024 { cache.removeAll() }
            cache[secret] = hash
        }
        return hash
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return text
    }
}
