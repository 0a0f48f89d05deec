/// Where a Redis server is and how to log in to it.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// ACL user name; `nil` logs in as `default` (or sends `AUTH password` alone).
    public var username: String?
    public var password: String?
    public var database: Int

    public init(host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `redis://[user:password@]host[:port][/db]`. Percent-escapes in the user name
    /// and password are decoded; IPv6 hosts are written in brackets (`redis://[::1]:6379`).
    public init(url: String) throws(RedisError) {
        func invalid(_ why: String) -> RedisError {
            RedisError(.invalidEndpoint, "invalid Redis URL '\(RedisEndpoint.redacted(url))': \(why)", delivery: .notSent)
        }
        guard url.hasPrefix("redis://") else { throw invalid("it must start with redis://") }
        var rest = Substring(url.dropFirst("redis://".count))
        var endpoint = RedisEndpoint()

        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let user: Substring
            let password: Substring
            if let colon = credentials.firstIndex(of: ":") {
                user = credentials[..<colon]
                password = credentials[credentials.index(after: colon)...]
            } else {
                // redis://password@host is how many tools write a password without a user.
                user = ""
                password = credentials
            }
            guard let decodedUser = Self.percentDecoded(user), let decodedPassword = Self.percentDecoded(password) else {
                throw invalid("bad percent-escape in the credentials")
            }
            endpoint.username = decodedUser.isEmpty ? nil : decodedUser
            endpoint.password = decodedPassword
        }

        var hostPort = rest
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty {
                guard let number = Int(db), (0...15_000).contains(number) else { throw invalid("database must be a number") }
                endpoint.database = number
            }
        }
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw invalid("unclosed [ in IPv6 host") }
            endpoint.host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                guard let port = Int(after.dropFirst()) else { throw invalid("port must be a number") }
                endpoint.port = port
            } else if !after.isEmpty {
                throw invalid("unexpected text after the host")
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            endpoint.host = String(hostPort[..<colon])
            guard let port = Int(hostPort[hostPort.index(after: colon)...]) else { throw invalid("port must be a number") }
            endpoint.port = port
        } else if !hostPort.isEmpty {
            endpoint.host = String(hostPort)
        }
        if endpoint.host.isEmpty { endpoint.host = "127.0.0.1" }
        guard (1...65_535).contains(endpoint.port) else { throw invalid("port out of range") }
        self = endpoint
    }

    /// The URL, with the password replaced by `***`.
    public var description: String {
        var text = "redis://"
        if username != nil || password != nil {
            text += (username ?? "") + (password == nil ? "" : ":***") + "@"
        }
        text += host.contains(":") ? "[\(host)]" : host
        text += ":\(port)"
        if database != 0 { text += "/\(database)" }
        return text
    }

    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), url.hasPrefix("redis://") else { return url }
        return "redis://***" + url[at...]
    }

    private static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                      let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
