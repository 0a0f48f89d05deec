import Foundation

/// Why an administrative change was refused; nothing was written. The CLI prints the message
/// and exits non-zero, the admin API answers 404, 409 or 422 by its code.
public struct ChangeRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String { case notFound = "not_found", conflict, invalid }
        private let base: Base

        /// The subject (tier, model, organisation, ...) does not exist.
        public static let notFound = Code(base: .notFound)
        /// It exists already, or is still in use.
        public static let conflict = Code(base: .conflict)
        /// The change itself is malformed or out of range.
        public static let invalid = Code(base: .invalid)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    /// The request field at fault, when there is one.
    public let field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { message }
}

/// What an audited change replaced: compact JSON of the old and new value ('' for none).
public struct AuditValues: Sendable, Equatable {
    public var old: String
    public var new: String

    public init(old: String, new: String) {
        self.old = old
        self.new = new
    }

    /// Compact JSON with sorted keys (what the audit log stores).
    public static func json(_ value: (some Encodable)?) -> String {
        guard let value else { return "" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
