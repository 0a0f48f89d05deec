/// One of tiktoken's byte-pair encodings: its rank file and its pre-tokenisation pattern.
///
/// The patterns are tiktoken's own (`tiktoken_ext/openai_public.py`), unchanged, for reference
/// and tests: the tokenizer splits text with a hand-written equivalent of each
/// (``Cl100kSplitter``, ``O200kSplitter``), pinned by `TiktokenParityTests` against Python
/// tiktoken.
public struct Encoding: Hashable, Sendable, CustomStringConvertible {
    /// tiktoken's name for it (`cl100k_base`, `o200k_base`).
    public let name: String
    /// The pre-tokenisation regular expression.
    public let pattern: String
    /// tiktoken's published SHA-256 of the uncompressed rank file.
    public let sha256: String
    /// The hand-written splitter that matches `pattern`.
    let splitter: SplitterKind

    public var description: String { name }

    /// GPT-4, GPT-3.5 and the `text-embedding-3` models.
    public static let cl100kBase = Encoding(
        name: "cl100k_base",
        pattern: #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"#,
        sha256: "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        splitter: .cl100k
    )

    /// GPT-4o, GPT-4.1, GPT-5 and the o-series.
    public static let o200kBase = Encoding(
        name: "o200k_base",
        pattern: [
            #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
            #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
            #"\p{N}{1,3}"#,
            #" ?[^\s\p{L}\p{N}]+[\r\n/]*"#,
            #"\s*[\r\n]+"#,
            #"\s+(?!\S)"#,
            #"\s+"#,
        ].joined(separator: "|"),
        sha256: "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        splitter: .o200k
    )

    /// Every encoding this target ships.
    public static let all: [Encoding] = [.cl100kBase, .o200kBase]

    /// The encoding called `name`, or nil.
    public init?(named name: String) {
        guard let found = Encoding.all.first(where: { $0.name == name }) else { return nil }
        self = found
    }

    private init(name: String, pattern: String, sha256: String, splitter: SplitterKind) {
        self.name = name
        self.pattern = pattern
        self.sha256 = sha256
        self.splitter = splitter
    }
}
