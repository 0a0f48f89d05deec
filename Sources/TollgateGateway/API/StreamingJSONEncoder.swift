/// A small, fast JSON encoder for the gateway's own response types: it writes straight into
/// a byte buffer, keys in declaration order, nil optionals left out. Foundation's
/// `JSONEncoder` builds an intermediate tree and was a tenth of the gateway's CPU time.
///
/// It relies on what synthesized `Encodable` conformances do: each value is encoded
/// completely, in order, before the next one starts.
struct StreamingJSONEncoder {
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let sink = Sink()
        let encoder = StreamEncoder(sink: sink)
        try value.encode(to: encoder)
        encoder.finish()
        return sink.bytes
    }
}

/// The output, shared by an encoder and its containers while one value is written.
private final class Sink {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(512) }

    func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: Array("\\u00".utf8) + [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    func integer(_ value: some BinaryInteger) {
        bytes.append(contentsOf: String(value).utf8)
    }
}

private final class StreamEncoder: Encoder {
    let sink: Sink
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    /// What this encoder opened and must close: "}" or "]".
    private var closer: UInt8?

    init(sink: Sink) { self.sink = sink }

    func finish() {
        if let closer { sink.bytes.append(closer) }
        closer = nil
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if closer == nil {
            sink.bytes.append(UInt8(ascii: "{"))
            closer = UInt8(ascii: "}")
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if closer == nil {
            sink.bytes.append(UInt8(ascii: "["))
            closer = UInt8(ascii: "]")
        }
        return UnkeyedContainer(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleContainer(encoder: self) }

    /// Encodes a nested value with its own encoder, closing what it opens.
    func nested(_ value: some Encodable) throws {
        let child = StreamEncoder(sink: sink)
        try value.encode(to: child)
        child.finish()
    }

    var firstInContainer = true

    func separator() {
        if !firstInContainer { sink.bytes.append(UInt8(ascii: ",")) }
        firstInContainer = false
    }

    func scalar(_ value: some Encodable) throws {
        switch value {
        case let text as String: sink.string(text)
        case let flag as Bool: sink.append(flag ? "true" : "false")
        case let number as Int: sink.integer(number)
        case let number as Int64: sink.integer(number)
        case let number as Int32: sink.integer(number)
        case let number as UInt: sink.integer(number)
        case let number as UInt64: sink.integer(number)
        case let number as Double: sink.bytes.append(contentsOf: "\(number)".utf8)
        default: try nested(value)
        }
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: StreamEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func key(_ key: Key) {
        encoder.separator()
        encoder.sink.string(key.stringValue)
        encoder.sink.bytes.append(UInt8(ascii: ":"))
    }

    mutating func encodeNil(forKey key: Key) throws {
        self.key(key)
        encoder.sink.append("null")
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        self.key(key)
        try encoder.scalar(value)
    }

    // Synthesized conformances call these for optionals: nil is left out.
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        preconditionFailure("StreamingJSONEncoder does not support nested containers; encode a nested value instead")
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        preconditionFailure("StreamingJSONEncoder does not support nested containers; encode a nested value instead")
    }

    mutating func superEncoder() -> any Encoder { encoder }
    mutating func superEncoder(forKey key: Key) -> any Encoder { encoder }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let encoder: StreamEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    var count = 0

    mutating func encodeNil() throws {
        encoder.separator()
        encoder.sink.append("null")
        count += 1
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        encoder.separator()
        try encoder.scalar(value)
        count += 1
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        preconditionFailure("StreamingJSONEncoder does not support nested containers; encode a nested value instead")
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        preconditionFailure("StreamingJSONEncoder does not support nested containers; encode a nested value instead")
    }

    mutating func superEncoder() -> any Encoder { encoder }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let encoder: StreamEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { encoder.sink.append("null") }

    mutating func encode<T: Encodable>(_ value: T) throws { try encoder.scalar(value) }
}
