import Glibc

/// Why the spool refused to start or to take an entry.
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable { case inUse, cannotOpen, full, writeFailed, replayFailed }
        fileprivate let base: Base
        /// Another live process holds the spool's lock.
        public static let inUse = Code(base: .inUse)
        /// The spool or its lock file cannot be opened or created.
        public static let cannotOpen = Code(base: .cannotOpen)
        /// The spool reached its size limit.
        public static let full = Code(base: .full)
        /// Writing or syncing the spool failed (a full disk, an I/O error); nothing was kept.
        public static let writeFailed = Code(base: .writeFailed)
        /// The spool could not be moved aside, read or removed for a replay.
        public static let replayFailed = Code(base: .replayFailed)
        public var description: String { base.rawValue }
    }

    public let code: Code
    /// One sentence for a log line or a command line.
    public let description: String
    public let file: String
    public let line: Int

    init(_ code: Code, _ description: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.description = description
        self.file = file
        self.line = line
    }

    /// The last system error, as text.
    static var systemError: String { String(cString: strerror(errno)) }
}
