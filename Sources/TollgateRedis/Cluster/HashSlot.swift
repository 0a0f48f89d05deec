/// A Redis Cluster hash slot: CRC16 (XMODEM) of the key, or of its `{tag}`, modulo 16384.
public struct HashSlot: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let count = 16_384

    public let rawValue: UInt16

    public init?(rawValue: Int) {
        guard (0..<Self.count).contains(rawValue) else { return nil }
        self.rawValue = UInt16(rawValue)
    }

    /// The slot of `key`. If the key holds `{...}` with at least one byte between the first
    /// `{` and the next `}`, only those bytes are hashed: that is how keys share a slot.
    public init(key: some Collection<UInt8>) {
        let bytes = Array(key)
        var hashed = bytes[...]
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
           close > open + 1 {
            hashed = bytes[(open + 1)..<close]
        }
        rawValue = Self.crc16(hashed) & UInt16(Self.count - 1)
    }

    public init(key: String) { self.init(key: Array(key.utf8)) }

    public static func < (lhs: HashSlot, rhs: HashSlot) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }

    /// CRC16/XMODEM: polynomial 0x1021, initial value 0, no reflection — Redis' choice.
    /// `continuing` is the CRC of bytes that come before these (to hash many keys that share
    /// a stem without hashing the stem again); the slot is the result modulo ``count``.
    public static func crc16(_ bytes: some Sequence<UInt8>, continuing start: UInt16 = 0) -> UInt16 {
        var crc = start
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
