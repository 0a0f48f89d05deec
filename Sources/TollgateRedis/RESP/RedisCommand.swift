/// One command, ready to be written: every argument stored back to back in one buffer,
/// so that handing it to `redisAppendCommandArgv` needs no per-argument allocation.
/// Arguments are bytes, so any value is binary-safe.
public struct RedisCommand: Sendable {
    @usableFromInline var storage: [UInt8]
    @usableFromInline var lengths: [Int]

    /// The script this command runs, when it is an `EVALSHA`; used to `SCRIPT LOAD` and
    /// retry on `NOSCRIPT`.
    public internal(set) var script: RedisScript?

    /// Index (into the arguments, the command name being 0) of the key that decides the
    /// hash slot, if the command has keys.
    public var keyIndex: Int?

    /// How many keys follow ``keyIndex`` (a script's `numkeys`), when known: a cluster client
    /// checks they share one slot before sending.
    public var keyCount: Int?

    /// Overrides the client's command timeout for this command (for example a blocking read).
    public var timeout: Duration?

    public init(_ name: String, _ arguments: [any RedisArgument] = [], keyIndex: Int? = nil) {
        storage = []
        lengths = []
        storage.reserveCapacity(name.utf8.count + arguments.count * 16)
        lengths.reserveCapacity(arguments.count + 1)
        append(name)
        for argument in arguments { append(argument) }
        self.keyIndex = keyIndex
    }

    public init(_ name: String, _ arguments: any RedisArgument..., keyIndex: Int? = nil) {
        self.init(name, arguments, keyIndex: keyIndex)
    }

    /// A command whose first argument is its key (`GET k`, `SET k v`, `HGETALL k`, ...).
    public static func keyed(_ name: String, _ key: some RedisArgument, _ arguments: any RedisArgument...) -> RedisCommand {
        var command = RedisCommand(name, [key] + arguments)
        command.keyIndex = 1
        return command
    }

    @inlinable
    public mutating func append(_ argument: some RedisArgument) {
        let before = storage.count
        argument.write(to: &storage)
        lengths.append(storage.count - before)
    }

    public var argumentCount: Int { lengths.count }

    /// The bytes of argument `index` (0 is the command name).
    public func argument(_ index: Int) -> ArraySlice<UInt8> {
        let offset = lengths[..<index].reduce(0, +)
        return storage[offset..<(offset + lengths[index])]
    }

    /// The bytes of the arguments in `range` (0 is the command name), found in one pass.
    public func arguments(_ range: Range<Int>) -> [ArraySlice<UInt8>] {
        var offset = lengths[..<range.lowerBound].reduce(0, +)
        return range.map { index in
            defer { offset += lengths[index] }
            return storage[offset..<(offset + lengths[index])]
        }
    }

    /// Every argument as text (for logs and for handing to other tools).
    public var words: [String] {
        arguments(0..<argumentCount).map { String(decoding: $0, as: UTF8.self) }
    }

    public var name: String { String(decoding: argument(0), as: UTF8.self).uppercased() }

    /// The key that routes this command, if any.
    public var routingKey: ArraySlice<UInt8>? {
        guard let keyIndex, keyIndex < lengths.count else { return nil }
        return argument(keyIndex)
    }
}

extension RedisCommand: CustomStringConvertible {
    public var description: String {
        arguments(0..<argumentCount).map { bytes in
            let text = String(decoding: bytes.prefix(64), as: UTF8.self)
            return bytes.count > 64 ? text + "…" : text
        }.joined(separator: " ")
    }
}

/// Something that can be written as one command argument.
public protocol RedisArgument: Sendable {
    func write(to buffer: inout [UInt8])
}

extension String: RedisArgument {
    @inlinable public func write(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Substring: RedisArgument {
    @inlinable public func write(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Array: RedisArgument where Element == UInt8 {
    @inlinable public func write(to buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}

extension ArraySlice: RedisArgument where Element == UInt8 {
    @inlinable public func write(to buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}

extension Int: RedisArgument {
    @inlinable public func write(to buffer: inout [UInt8]) { Int64(self).write(to: &buffer) }
}

extension Int64: RedisArgument {
    /// Decimal digits without going through `String`.
    @inlinable public func write(to buffer: inout [UInt8]) {
        if self == 0 { buffer.append(UInt8(ascii: "0")); return }
        var magnitude = self.magnitude
        if self < 0 { buffer.append(UInt8(ascii: "-")) }
        let start = buffer.count
        while magnitude > 0 {
            buffer.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        buffer[start...].reverse()
    }
}

extension Int32: RedisArgument {
    @inlinable public func write(to buffer: inout [UInt8]) { Int64(self).write(to: &buffer) }
}

extension UInt64: RedisArgument {
    @inlinable public func write(to buffer: inout [UInt8]) { buffer.append(contentsOf: String(self).utf8) }
}
