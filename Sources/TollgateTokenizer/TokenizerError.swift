/// Why a tokenizer could not be loaded.
public struct TokenizerError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case missingResource
            case corruptResource
            case hashMismatch
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The rank file is not in the bundle.
        public static let missingResource = Code(.missingResource)
        /// The rank file could not be inflated or parsed.
        public static let corruptResource = Code(.corruptResource)
        /// The uncompressed rank file does not have tiktoken's published SHA-256.
        public static let hashMismatch = Code(.hashMismatch)

        public var description: String { String(describing: base) }
    }

    public let code: Code
    public let message: String
    public let file: String
    public let line: Int

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { "\(code): \(message)" }
}
