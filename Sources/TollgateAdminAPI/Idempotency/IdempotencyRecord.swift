import HTTPTypes

/// What Redis keeps under an `Idempotency-Key`: the fingerprint of the request that took the
/// key, and, once it finished, its answer. Written and read only here.
///
/// Layout (one string): `P<fingerprint>` while the first request runs;
/// `D<fingerprint><status, 3 digits><body>` once it has answered.
enum IdempotencyRecord: Equatable {
    case pending(fingerprint: String)
    case done(fingerprint: String, reply: AdminReply)

    /// A SHA-256 in hex.
    static let fingerprintLength = 64

    var fingerprint: String {
        switch self {
        case .pending(let fingerprint), .done(let fingerprint, _): fingerprint
        }
    }

    var bytes: [UInt8] {
        switch self {
        case .pending(let fingerprint): Array("P\(fingerprint)".utf8)
        case .done(let fingerprint, let reply): Array("D\(fingerprint)\(reply.status.code)".utf8) + reply.body
        }
    }

    init?(_ bytes: [UInt8]) {
        guard bytes.count >= 1 + Self.fingerprintLength else { return nil }
        let fingerprint = String(decoding: bytes[1...Self.fingerprintLength], as: UTF8.self)
        switch bytes[0] {
        case UInt8(ascii: "P"):
            self = .pending(fingerprint: fingerprint)
        case UInt8(ascii: "D"):
            let statusStart = 1 + Self.fingerprintLength
            guard bytes.count >= statusStart + 3, let code = Int(String(decoding: bytes[statusStart..<statusStart + 3], as: UTF8.self)) else { return nil }
            self = .done(fingerprint: fingerprint, reply: AdminReply(status: HTTPResponse.Status(code: code), bytes: Array(bytes[(statusStart + 3)...])))
        default:
            return nil
        }
    }
}
