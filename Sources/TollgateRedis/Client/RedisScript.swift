import Crypto

/// A Lua script known by its SHA-1, run with `EVALSHA` and loaded on `NOSCRIPT`; or a function
/// of a Redis function library (``function`` set, ``source`` the library's code), run with
/// `FCALL` and loaded with `FUNCTION LOAD REPLACE` when the server does not know it. A library
/// is created once when it loads, so a helper it defines costs nothing per call, where a
/// script re-creates its helpers on every call.
public struct RedisScript: Sendable, Hashable, CustomStringConvertible {
    /// A short name for logs and metrics (`reserve`, `commit`, ...).
    public let name: String
    public let source: String
    /// Lower-case hex SHA-1 of ``source``, as `SCRIPT LOAD` returns it.
    public let sha1: String
    /// The function's registered name, for a function of a library.
    public let function: String?

    public init(name: String, source: String) {
        self.init(name: name, source: source, function: nil)
    }

    /// Function `function` of the library whose code is `library` (`#!lua name=...` first).
    public init(name: String, library: String, function: String) {
        self.init(name: name, source: library, function: function)
    }

    private init(name: String, source: String, function: String?) {
        self.name = name
        self.source = source
        self.function = function
        self.sha1 = Self.hex(Insecure.SHA1.hash(data: Array(source.utf8)))
    }

    /// Lower-case hex of a digest.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    public var description: String { "\(name) (\(function ?? String(sha1.prefix(12))))" }
}

extension RedisCommand {
    /// `EVALSHA sha numkeys key... arg...` (`FCALL function numkeys ...` for a library's
    /// function), routed by its first key.
    public static func evalsha(_ script: RedisScript, keys: [any RedisArgument], arguments: [any RedisArgument] = []) -> RedisCommand {
        var all: [any RedisArgument] = [script.function ?? script.sha1, keys.count]
        all.reserveCapacity(2 + keys.count + arguments.count)
        all += keys
        all += arguments
        var command = RedisCommand(script.function == nil ? "EVALSHA" : "FCALL", all)
        command.script = script
        command.keyIndex = keys.isEmpty ? nil : 3
        command.keyCount = keys.count
        return command
    }

    /// `EVALSHA_RO sha numkeys key... arg...`: for a script that writes nothing, so a user whose
    /// ACL lets it only read the keys may run it (Redis checks `EVALSHA`'s keys as writes).
    public static func evalshaReadOnly(_ script: RedisScript, keys: [any RedisArgument], arguments: [any RedisArgument] = []) -> RedisCommand {
        var command = evalsha(script, keys: keys, arguments: arguments)
        var readOnly = RedisCommand("EVALSHA_RO", command.arguments(1..<command.argumentCount))
        readOnly.script = script
        readOnly.keyIndex = command.keyIndex
        readOnly.keyCount = command.keyCount
        command = readOnly
        return command
    }

    /// `SCRIPT LOAD source`, or `FUNCTION LOAD REPLACE library` for a library's function.
    public static func scriptLoad(_ script: RedisScript) -> RedisCommand {
        script.function == nil ? RedisCommand("SCRIPT", "LOAD", script.source) : RedisCommand("FUNCTION", "LOAD", "REPLACE", script.source)
    }
}
