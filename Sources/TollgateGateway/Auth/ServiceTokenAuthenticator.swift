import Crypto
import HTTPTypes
import TollgateCore

/// Bearer service tokens: only their SHA-256 is stored; a request's token is hashed and
/// looked up in the snapshot.
enum ServiceTokenAuthenticator {
    static func authenticate(_ headers: HTTPFields, snapshot: GatewaySnapshot) -> ServiceToken? {
        guard let value = headers[.authorization], value.count > 7, value.prefix(7).lowercased() == "bearer " else { return nil }
        let secret = value.dropFirst(7).trimmingSpaces
        guard !secret.isEmpty, secret.utf8.count <= 512 else { return nil }
        return snapshot.tokensByHash[sha256Hex(secret)]
    }

    static func sha256Hex(_ text: some StringProtocol) -> String {
        SHA256.hash(data: Array(text.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
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
