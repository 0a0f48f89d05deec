/// A reply from Redis, copied out of hiredis' C structures before they are freed.
///
/// Error replies at the top level of a command are thrown as ``RedisError``; inside an
/// array (for example the results of `EXEC`) they stay values, as `.error`.
public enum RedisReply: Sendable, Hashable {
    case status(String)
    case bulk([UInt8])
    case integer(Int64)
    case null
    case array([RedisReply])
    case error(String)
}

extension RedisReply {
    /// The reply as UTF-8 text: bulk and status replies, and integers in decimal.
    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        case .integer(let value): String(value)
        default: nil
        }
    }

    /// The reply as an integer: integer replies, and bulk or status replies holding one.
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk, .status: string.flatMap { Int64($0) }
        default: nil
        }
    }

    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): bytes
        case .status(let text): Array(text.utf8)
        default: nil
        }
    }

    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension RedisReply: CustomStringConvertible {
    public var description: String {
        switch self {
        case .status(let text): "+\(text)"
        case .bulk(let bytes): "\"\(String(decoding: bytes.prefix(200), as: UTF8.self))\(bytes.count > 200 ? "…" : "")\""
        case .integer(let value): "(integer) \(value)"
        case .null: "(nil)"
        case .array(let elements): "[" + elements.map(\.description).joined(separator: ", ") + "]"
        case .error(let message): "-\(message)"
        }
    }
}
