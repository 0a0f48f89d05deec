/// The classes of Unicode scalar that tiktoken's two pre-tokenisation patterns tell apart:
/// the letter categories (`\p{Lu}` `\p{Ll}` `\p{Lt}` `\p{Lm}` `\p{Lo}`), marks (`\p{M}`),
/// numbers (`\p{N}`), white space (`\s`, Unicode's `White_Space` property, with CR and LF on
/// their own), and everything else. A scalar has exactly one class: no `White_Space` scalar is
/// a letter, mark or number.
///
/// The patterns' character sets are bit masks over these classes (``Set``), so a test is one
/// shift and one AND.
enum ScalarClass: UInt8, CaseIterable {
    case other
    case uppercaseLetter
    case lowercaseLetter
    case titlecaseLetter
    case modifierLetter
    case otherLetter
    case mark
    case number
    case space
    case carriageReturn
    case lineFeed

    /// The class of any scalar, from its Unicode properties (the table's source).
    init(_ scalar: Unicode.Scalar) {
        if scalar == "\r" { self = .carriageReturn; return }
        if scalar == "\n" { self = .lineFeed; return }
        if scalar.properties.isWhitespace { self = .space; return }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter: self = .uppercaseLetter
        case .lowercaseLetter: self = .lowercaseLetter
        case .titlecaseLetter: self = .titlecaseLetter
        case .modifierLetter: self = .modifierLetter
        case .otherLetter: self = .otherLetter
        case .nonspacingMark, .spacingMark, .enclosingMark: self = .mark
        case .decimalNumber, .letterNumber, .otherNumber: self = .number
        default: self = .other
        }
    }

    /// A set of classes, one bit per class.
    struct Set {
        let mask: UInt16

        init(_ classes: ScalarClass...) {
            mask = classes.reduce(0) { $0 | 1 << UInt16($1.rawValue) }
        }

        @inline(__always)
        func contains(_ raw: UInt8) -> Bool { mask & (1 << UInt16(raw)) != 0 }

        /// `\p{L}`
        static let letter = Set(.uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter)
        /// `\p{N}`
        static let number = Set(.number)
        /// `\s`
        static let whitespace = Set(.space, .carriageReturn, .lineFeed)
        /// `[\r\n]`
        static let newline = Set(.carriageReturn, .lineFeed)
        /// `[^\r\n\p{L}\p{N}]`: the optional character before a word.
        static let wordPrefix = Set(.other, .mark, .space)
        /// `[^\s\p{L}\p{N}]`: punctuation and symbols (and marks).
        static let punctuation = Set(.other, .mark)
        /// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`: o200k_base's upper-case-like letters.
        static let upperLike = Set(.uppercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .mark)
        /// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`: o200k_base's lower-case-like letters.
        static let lowerLike = Set(.lowercaseLetter, .modifierLetter, .otherLetter, .mark)
    }
}

/// Every scalar's ``ScalarClass`` in a two-stage table: the scalar's high bits pick a
/// 256-entry block (identical blocks are stored once), its low byte the entry. Built once per
/// process from the Swift standard library's Unicode data. Planes 4–13 (unassigned) and 15–16
/// (private use) hold only `.other`, so they share one block without being looked up
/// (`ScalarClassTests` pins that), which keeps the build to ~330,000 scalars.
struct ScalarClassTable: Sendable {
    private let blocks: [UInt16]
    private let classes: [UInt8]

    static let shared = ScalarClassTable()

    /// The scalars whose classes are looked up; every other scalar is `.other`.
    static let lookedUp = [0..<0x40000, 0xe0000..<0xf0000]

    private init() {
        var blocks = [UInt16](repeating: 0, count: 0x110000 >> 8)
        var classes: [UInt8] = []
        var known: [[UInt8]: UInt16] = [:]
        var block = [UInt8](repeating: 0, count: 256)
        for high in 0..<blocks.count {
            if Self.lookedUp.contains(where: { $0.contains(high << 8) }) {
                for low in 0..<256 {
                    block[low] = Unicode.Scalar(UInt32(high << 8 | low)).map { ScalarClass($0).rawValue } ?? ScalarClass.other.rawValue
                }
            } else {
                for low in 0..<256 { block[low] = ScalarClass.other.rawValue }
            }
            if let index = known[block] {
                blocks[high] = index
            } else {
                let index = UInt16(known.count)
                known[block] = index
                blocks[high] = index
                classes.append(contentsOf: block)
            }
        }
        self.blocks = blocks
        self.classes = classes
    }

    /// Calls `body` with a borrowed view for the hot path; the view must not escape.
    func withView<Result>(_ body: (View) throws -> Result) rethrows -> Result {
        try blocks.withUnsafeBufferPointer { blocks in
            try classes.withUnsafeBufferPointer { classes in
                try body(View(blocks: blocks.baseAddress!, classes: classes.baseAddress!))
            }
        }
    }

    /// The class of `scalar`, as the hot path sees it (for tests).
    func rawClass(_ scalar: Unicode.Scalar) -> UInt8 { withView { $0.rawClass(scalar.value) } }

    struct View {
        let blocks: UnsafePointer<UInt16>
        let classes: UnsafePointer<UInt8>

        /// The class of `scalar` (below 0x110000).
        @inline(__always)
        func rawClass(_ scalar: UInt32) -> UInt8 {
            classes[Int(blocks[Int(scalar >> 8)]) << 8 | Int(scalar & 0xff)]
        }
    }
}
