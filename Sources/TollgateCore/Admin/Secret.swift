import Crypto

/// Secrets handed out once (service, dashboard and admin tokens) and the hashes stored instead.
public enum Secret {
    /// `length` letters and digits from the system's random source.
    public static func random(length: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
    }

    /// Lower-case hex SHA-256 of `text`'s UTF-8: what a token record stores.
    public static func sha256Hex(_ text: some StringProtocol) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(text.utf8)) {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
