import Crypto

/// A Lua script known by its SHA-1, run with `EVALSHA` and loaded on `NOSCRIPT`.
public struct RedisScript: Sendable, Hashable, CustomStringConvertible {
    /// A short name for logs and metrics (`reserve`, `commit`, ...).
    public let name: String
    public let source: String
    /// Lower-case hex SHA-1 of ``source``, as `SCRIPT LOAD` returns it.
    public let sha1: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    public var description: String { "\(name) (\(sha1.prefix(12)))" }
}

extension RedisCommand {
    /// `EVALSHA sha numkeys key... arg...`, routed by its first key.
    public static func evalsha(_ script: RedisScript, keys: [any RedisArgument], arguments: [any RedisArgument] = []) -> RedisCommand {
        var all: [any RedisArgument] = [script.sha1, keys.count]
        all.reserveCapacity(2 + keys.count + arguments.count)
        all += keys
        all += arguments
        var command = RedisCommand("EVALSHA", all)
        command.script = script
        command.keyIndex = keys.isEmpty ? nil : 3
        command.keyCount = keys.count
        return command
    }

    /// `EVALSHA_RO sha numkeys key... arg...`: for a script that writes nothing, so a user whose
    /// ACL lets it only read the keys may run it (Redis checks `EVALSHA`'s keys as writes).
    public static func evalshaReadOnly(_ script: RedisScript, keys: [any RedisArgument], arguments: [any RedisArgument] = []) -> RedisCommand {
        var command = evalsha(script, keys: keys, arguments: arguments)
        var readOnly = RedisCommand("EVALSHA_RO", (1..<command.argumentCount).map { Array(command.argument($0)) as any RedisArgument })
        readOnly.script = script
        readOnly.keyIndex = command.keyIndex
        readOnly.keyCount = command.keyCount
        command = readOnly
        return command
    }

    /// `SCRIPT LOAD source`.
    public static func scriptLoad(_ script: RedisScript) -> RedisCommand {
        RedisCommand("SCRIPT", "LOAD", script.source)
    }
}
