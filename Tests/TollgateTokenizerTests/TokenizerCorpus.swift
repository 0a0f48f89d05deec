import Foundation
import RedisTestSupport

/// A reproducible corpus of awkward text for comparing the tokenizer with tiktoken:
/// random Unicode from many scripts and categories, source code, whitespace runs, digits,
/// contractions in every case, and a few 1 MiB documents.
struct TokenizerCorpus {
    private var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    /// `count` short and medium strings, then the large documents.
    mutating func strings(count: Int) -> [String] {
        var strings: [String] = []
        for index in 0..<count {
            switch index % 6 {
            case 0, 1: strings.append(unicodeSoup(length: random.below(80) + 1))
            case 2: strings.append(sourceCode(lines: random.below(12) + 1))
            case 3: strings.append(whitespaceRuns())
            case 4: strings.append(digits())
            default: strings.append(contractions())
            }
        }
        strings.append(contentsOf: largeDocuments())
        return strings
    }

    /// `count` short strings drawn from one or two scalars of every class the patterns tell
    /// apart (each letter category, marks, numbers, each kind of white space, CR, LF, `'`, `/`,
    /// the letters of contractions in both cases and `ſ`, which folds to `s`): every branch and
    /// backtracking point of the pre-tokenisers, many times over.
    mutating func patternEdges(count: Int) -> [String] {
        (0..<count).map { _ in
            var scalars = String.UnicodeScalarView()
            for _ in 0..<(random.below(random.below(4) == 0 ? 40 : 12) + 1) {
                let pool = Self.edgePools[random.below(Self.edgePools.count)]
                scalars.append(pool[random.below(pool.count)])
            }
            return String(scalars)
        }
    }

    private static let edgePools: [[Unicode.Scalar]] = [
        "AZÉΣЖ\u{1D400}\u{10400}\u{212A}",              // Lu (with KELVIN SIGN)
        "azéσжß\u{1D41A}\u{10428}",                     // Ll
        "\u{1C5}\u{1C8}\u{1F88}",                       // Lt
        "\u{2B0}\u{2C6}\u{30FC}\u{1D43}",               // Lm
        "日あאعกª한",                                    // Lo
        "\u{301}\u{308}\u{903}\u{20DD}\u{FE0F}\u{E0100}",  // Mn, Mc, Me
        "07٣²½Ⅻ\u{1D7D8}",                              // N
        " \t\u{B}\u{C}\u{85}\u{A0}\u{1680}\u{2028}\u{3000}",  // white space
        "\r\n", "  \n",
        "\u{200B}\u{180E}\u{FEFF}\u{200D}\u{E000}",     // not white space
        "'’/\"!.-_$😀🏻",                                 // punctuation, symbols
        "''''",
        "sSſtTdDmMlLvVrReE",                            // contraction letters
        "sStTdDmMlLvVrReE",
    ].map { Array($0.unicodeScalars) }

    // MARK: - Pools

    private static let pools: [[Unicode.Scalar]] = {
        func range(_ from: UInt32, _ to: UInt32) -> [Unicode.Scalar] { (from...to).compactMap(Unicode.Scalar.init) }
        return [
            range(0x20, 0x7e),                                  // ASCII
            Array("aeiouAEIOUstnrlSTNRL'’ ".unicodeScalars),
            range(0x300, 0x36f),                                // combining marks
            range(0x4e00, 0x4e80), range(0x3040, 0x30ff),       // CJK, kana
            range(0xac00, 0xac40),                              // Hangul
            range(0x1f300, 0x1f64f), range(0x1f3fb, 0x1f3ff),   // emoji, skin tones
            range(0x1f1e6, 0x1f1ff),                            // regional indicators
            [Unicode.Scalar(0x200d)!, Unicode.Scalar(0xfe0f)!],  // ZWJ, VS16
            range(0x5d0, 0x5ea), range(0x620, 0x64a), range(0x660, 0x669),  // Hebrew, Arabic
            [Unicode.Scalar(0x200e)!, Unicode.Scalar(0x200f)!, Unicode.Scalar(0x202e)!],  // LRM RLM RLO
            range(0x900, 0x97f), range(0xe01, 0xe5b),           // Devanagari, Thai
            range(0x391, 0x3c9), range(0x410, 0x44f),           // Greek, Cyrillic
            range(0xc0, 0x17f), [Unicode.Scalar(0x1c5)!, Unicode.Scalar(0x1c8)!, Unicode.Scalar(0x1f88)!],  // Latin, titlecase
            range(0x2b0, 0x2ff),                                // modifier letters
            [0x9, 0xa, 0xb, 0xc, 0xd, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2007, 0x200a, 0x2028, 0x2029,
             0x202f, 0x205f, 0x3000, 0x200b, 0x180e, 0xfeff].compactMap(Unicode.Scalar.init),  // spaces
            range(0xb2, 0xb3) + range(0xbc, 0xbe) + range(0xff10, 0xff19) + range(0x2160, 0x216f),  // other numbers
            range(0x2010, 0x2027) + range(0x20a0, 0x20c0) + range(0x2190, 0x21ff),  // punctuation, symbols
            range(0x1d400, 0x1d4ff) + range(0x10400, 0x1044f),  // math letters, Deseret (astral case)
            range(0xe000, 0xe010) + range(0xfff0, 0xfffd),      // private use, specials
        ]
    }()

    private mutating func unicodeSoup(length: Int) -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<length {
            if random.below(10) == 0 {
                let value = UInt32(random.below(0x30000))
                if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
                continue
            }
            let pool = Self.pools[random.below(Self.pools.count)]
            scalars.append(pool[random.below(pool.count)])
        }
        if random.below(4) == 0 { scalars.append(contentsOf: "👩‍👩‍👧‍👦🏳️‍🌈👍🏽".unicodeScalars) }
        return String(scalars)
    }

    private static let snippets = [
        "func {id}(_ x: Int) -> Int {\n    return x &* 31 + {n}\n}",
        "def {id}(self, *args, **kw):\n\treturn [x**2 for x in range({n}) if x % 3 == 0]",
        "#include <stdio.h>\nint {id}(void) { printf(\"%d\\n\", {n}); return 0; }",
        "const {id} = async (a, b) => { await fetch(`/api/${a}?q=${b}`); };",
        "fn {id}<'a>(s: &'a str) -> Option<&'a str> { s.get(..{n}) }",
        "SELECT {id}, COUNT(*) FROM t WHERE x >= {n} GROUP BY 1;",
        "<div class=\"{id}\">&nbsp;{n}</div>\r\n",
        "    // TODO({id}): handle {n} cases\n\n\n",
        "{id}_{n} := map[string]int{\"a\": 1}",
        "if (!{id} || {id}->next == NULL) {{ goto fail; }}",
    ]

    private mutating func sourceCode(lines: Int) -> String {
        var text = ""
        for _ in 0..<lines {
            let identifier = ["x", "fooBar", "HTTPServer", "snake_case_name", "ÄÖÜ", "变量", "_priv"][random.below(7)]
            let snippet = Self.snippets[random.below(Self.snippets.count)]
            text += String(repeating: random.below(2) == 0 ? " " : "\t", count: random.below(9))
            text += snippet.replacingOccurrences(of: "{id}", with: identifier)
                .replacingOccurrences(of: "{n}", with: String(random.below(100_000)))
            text += ["\n", "\r\n", "\n\n", " \n"][random.below(4)]
        }
        return text
    }

    private mutating func whitespaceRuns() -> String {
        let spaces: [String] = [" ", "\t", "\n", "\r\n", "\u{0B}", "\u{0C}", "\u{A0}", "\u{2028}", "\u{3000}", "  "]
        var text = ["", "word", "x", "!"][random.below(4)]
        for _ in 0..<(random.below(6) + 1) {
            let space = spaces[random.below(spaces.count)]
            text += String(repeating: space, count: random.below(random.below(4) == 0 ? 600 : 12) + 1)
            text += ["a", "Hello", "42", "?!", "", "\n", "é"][random.below(7)]
        }
        return text
    }

    private mutating func digits() -> String {
        var text = ""
        for _ in 0..<(random.below(5) + 1) {
            switch random.below(5) {
            case 0: text += String(repeating: "9876543210", count: random.below(8) + 1)
            case 1: text += "\(random.below(1_000_000)).\(random.below(1000))"
            case 2: text += "١٢٣٤٥٦٧٨٩٠"  // Arabic-Indic
            case 3: text += "１２３４５ ²³ ½ Ⅻ"
            default: text += "$\(random.below(10_000)),\(random.below(1000))"
            }
            text += [" ", "", "x", "\n", "-"][random.below(5)]
        }
        return text
    }

    private mutating func contractions() -> String {
        let bases = ["I", "you", "we", "they", "it", "don", "can", "he", "o", "rock n", "Ñ"]
        let endings = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "’s", "'", "''", "'x"]
        var text = ""
        for _ in 0..<(random.below(6) + 1) {
            var word = bases[random.below(bases.count)] + endings[random.below(endings.count)]
            switch random.below(3) {
            case 0: word = word.uppercased()
            case 1: word = String(word.map { random.below(2) == 0 ? Character($0.uppercased()) : $0 })
            default: break
            }
            text += word + [" ", "", "  ", "\n", ","][random.below(5)]
        }
        return text
    }

    private mutating func largeDocuments() -> [String] {
        let mebibyte = 1 << 20
        var prose = ""
        while prose.utf8.count < mebibyte {
            switch random.below(4) {
            case 0: prose += sourceCode(lines: 5)
            case 1: prose += unicodeSoup(length: 200)
            case 2: prose += whitespaceRuns() + contractions()
            default: prose += "The quick brown fox jumps over the lazy dog. " + digits() + "\n"
            }
        }
        // Long single pieces take the heap merge: punctuation, a base64 blob, spaces.
        let punctuation = String(repeating: "=-*#", count: mebibyte / 16)
        var blob = ""
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        for _ in 0..<(mebibyte / 4) { blob.append(alphabet[random.below(alphabet.count)]) }
        let spaces = String(repeating: " ", count: 100_000) + "end" + String(repeating: "\t ", count: 50_000)
        return [prose, punctuation, blob, spaces]
    }
}
