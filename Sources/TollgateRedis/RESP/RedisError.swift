/// An error from the Redis client.
///
/// ``delivery`` says what is known about the command: never sent (safe to retry anywhere),
/// sent with the outcome unknown (a timeout or a lost connection: never retry a
/// non-idempotent command blindly), or answered by the server with an error.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case server
            case notConnected
            case timeout
            case connectionLost
            case authenticationFailed
            case protocolError
            case clientClosed
            case invalidEndpoint
            case unexpectedReply
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The server answered with an error reply; ``RedisError/prefix`` holds its code.
        public static let server = Code(.server)
        /// The command could not be sent: no connection, and none could be made in time.
        public static let notConnected = Code(.notConnected)
        /// No reply arrived within the command timeout.
        public static let timeout = Code(.timeout)
        /// The connection failed after the command was written.
        public static let connectionLost = Code(.connectionLost)
        /// `AUTH` was refused (wrong user name or password).
        public static let authenticationFailed = Code(.authenticationFailed)
        /// hiredis could not parse what the server sent.
        public static let protocolError = Code(.protocolError)
        /// The client was shut down.
        public static let clientClosed = Code(.clientClosed)
        /// The Redis URL or endpoint is not valid.
        public static let invalidEndpoint = Code(.invalidEndpoint)
        /// The reply did not have the shape the caller expected.
        public static let unexpectedReply = Code(.unexpectedReply)

        public var description: String { String(describing: base) }
    }

    /// What is known about whether the command ran.
    public enum Delivery: Sendable, Hashable {
        /// It was never written to a socket: it did not run.
        case notSent
        /// It was written, but no reply came: it may or may not have run.
        case unknown
        /// The server replied (with an error).
        case answered
    }

    public let code: Code
    public let message: String
    public let delivery: Delivery
    public let file: String
    public let line: Int

    public init(_ code: Code, _ message: String, delivery: Delivery, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.delivery = delivery
        self.file = file
        self.line = line
    }

    /// A server error reply such as `NOSCRIPT No matching script` or `MOVED 3999 127.0.0.1:6381`.
    public static func server(_ message: String, file: String = #fileID, line: Int = #line) -> RedisError {
        RedisError(.server, message, delivery: .answered, file: file, line: line)
    }

    /// The server's error prefix (`NOSCRIPT`, `MOVED`, `ASK`, `TRYAGAIN`, `CROSSSLOT`,
    /// `NOPERM`, `WRONGPASS`, `BUSY`, `LOADING`, `ERR`, ...), for server errors.
    public var prefix: String? {
        guard code == .server else { return nil }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    /// The server does not know the script (`NOSCRIPT`) or the library function (`FCALL`'s
    /// `ERR Function not found`): load it and send the command again.
    public var isNoScript: Bool { prefix == "NOSCRIPT" || (prefix == "ERR" && message.hasPrefix("ERR Function not found")) }

    public var description: String {
        switch code {
        case .server: "Redis error: \(message)"
        default: "Redis \(code): \(message)"
        }
    }
}
