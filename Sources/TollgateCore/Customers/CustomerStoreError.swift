/// The kinds of customer record, with the letter each uses in Redis keys and change entries.
public enum CustomerKind: String, Sendable, Hashable, CaseIterable {
    case organization = "o"
    case workspace = "w"
    case key = "k"
    case token = "t"

    /// The noun for messages ("organization", "workspace", "key", "token").
    public var noun: String {
        switch self {
        case .organization: "organization"
        case .workspace: "workspace"
        case .key: "key"
        case .token: "token"
        }
    }
}

/// Why ``CustomerStore`` refused a change. Nothing was written. Redis failures are thrown as
/// `RedisError` instead.
public struct CustomerStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String { case alreadyExists, notFound, unknownTier, invalid, conflict }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// An entity with that id (or a token with that hash) exists. HTTP 409.
        public static let alreadyExists = Code(.alreadyExists)
        /// The entity, or the parent it names, does not exist. HTTP 404 (or 422 for a parent
        /// named in a body).
        public static let notFound = Code(.notFound)
        /// The tier named does not exist. HTTP 422.
        public static let unknownTier = Code(.unknownTier)
        /// The input is not acceptable (an id, a limit, a parent change). HTTP 422.
        public static let invalid = Code(.invalid)
        /// The record kept changing under an update (another writer); retry. HTTP 409.
        public static let conflict = Code(.conflict)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// The kind of entity the refusal is about (for a missing parent, the parent's kind).
    public let kind: CustomerKind?
    /// Its id (for ``Code/unknownTier``, the tier's name).
    public let id: String?
    /// One sentence.
    public let message: String

    public init(_ code: Code, kind: CustomerKind? = nil, id: String? = nil, _ message: String) {
        self.code = code
        self.kind = kind
        self.id = id
        self.message = message
    }

    public var description: String { message }

    static func invalid(_ message: String) -> CustomerStoreError { CustomerStoreError(.invalid, message) }
}
