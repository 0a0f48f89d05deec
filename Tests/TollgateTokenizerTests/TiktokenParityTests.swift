import Foundation
import RedisTestSupport
import Testing
@testable import TollgateTokenizer

/// The tokenizer against Python tiktoken (pinned in Scripts/checks/requirements.txt; the test
/// run's venv is `TOLLGATE_PYTHON`) on a generated corpus, for both encodings. tiktoken reads
/// the rank files we ship: `TIKTOKEN_CACHE_DIR` holds them under the names tiktoken gives its
/// cache (the SHA-1 of each download URL), so nothing is downloaded.
@Suite("Tiktoken parity")
struct TiktokenParityTests {
    static let corpusSize = 10_000
    /// Short strings aimed at the pre-tokenisers' branches (``TokenizerCorpus/patternEdges(count:)``).
    static let edgeCount = 30_000

    /// Two checks on one run of Python per encoding. The token ids equal tiktoken's
    /// `encode_ordinary`. The pieces equal the split of tiktoken's pattern by Python's `regex`
    /// module (tiktoken's dependency), since a piece boundary moved next to bytes that never
    /// merge (a combining mark, a rare letter) leaves the ids unchanged; `regex` has newer Unicode
    /// data than tiktoken (Unicode 16, as Swift's), so strings with scalars unassigned in
    /// Unicode 16 are left to the ids check.
    @Test(arguments: Encoding.all)
    func idsAndPiecesEqualTiktokenOnGeneratedCorpus(encoding: Encoding) async throws {
        var corpus = TokenizerCorpus(seed: 0x7011_6a7e)
        let strings = corpus.strings(count: Self.corpusSize) + corpus.patternEdges(count: Self.edgeCount)
        let expected = try await TiktokenReference.encode(strings, encoding: encoding)
        try #require(expected.ids.count == strings.count && expected.pieces.count == strings.count)

        let tokenizer = try Tokenizer.shared(encoding)
        var mismatches = 0, splitDifferently = 0, piecesCompared = 0
        for (index, text) in strings.enumerated() {
            let ids = tokenizer.encode(text)
            if ids != expected.ids[index] {
                mismatches += 1
                if mismatches <= 5 {
                    let at = zip(ids, expected.ids[index]).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ids.count, expected.ids[index].count)
                    Issue.record("""
                        \(encoding) string \(index) \(text.debugDescription.prefix(300)): \
                        first difference at token \(at): ours \(ids[at..<min(at + 5, ids.count)]) \
                        tiktoken \(expected.ids[index][at..<min(at + 5, expected.ids[index].count)])
                        """)
                }
            }
            guard text.unicodeScalars.allSatisfy({ $0.properties.age != nil }) else { continue }
            piecesCompared += 1
            let pieces = tokenizer.pieces(text)
            guard pieces.map(\.utf8.count) != expected.pieces[index] else { continue }
            splitDifferently += 1
            if splitDifferently <= 5 {
                Issue.record("""
                    \(encoding) string \(index) \(text.unicodeScalars.map { String($0.value, radix: 16) }.prefix(60)): \
                    ours \(pieces.map(\.debugDescription).prefix(20)) regex's lengths \(expected.pieces[index].prefix(20))
                    """)
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(strings.count) strings differ")
        #expect(splitDifferently == 0, "\(splitDifferently) of \(piecesCompared) strings split differently")
        #expect(strings.count >= Self.corpusSize + Self.edgeCount)
        #expect(piecesCompared > strings.count * 9 / 10)
        #expect(strings.contains { $0.utf8.count >= 1 << 20 })
    }

    @Test(arguments: Encoding.all)
    func countIsTheNumberOfIds(encoding: Encoding) throws {
        let tokenizer = try Tokenizer.shared(encoding)
        for text in ["", " ", "hello world", "I'M HERE, aren't we?", "👩‍👩‍👧‍👦 日本語\u{2028}x"] {
            #expect(tokenizer.count(text) == tokenizer.encode(text).count)
            let bytes = tokenizer.encode(text).flatMap { tokenizer.bytes(of: $0) ?? [] }
            #expect(bytes == Array(text.utf8))
        }
    }

    @Test func sharedLoadsEachEncodingOnceAcrossThreads() async throws {
        let tokenizers = try await withThrowingTaskGroup(of: ObjectIdentifier.self) { group in
            for _ in 0..<8 {
                group.addTask { ObjectIdentifier(try Tokenizer.shared(.o200kBase)) }
            }
            return try await group.reduce(into: Set()) { $0.insert($1) }
        }
        #expect(tokenizers.count == 1)
        #expect(try Tokenizer.shared(.o200kBase).vocabularySize == 199_998)
        #expect(try Tokenizer.shared(.cl100kBase).vocabularySize == 100_256)
    }
}

/// Runs Python tiktoken's `encode_ordinary` and its pattern's split over strings.
enum TiktokenReference {
    static let script = #"""
        import gzip, hashlib, json, os, sys
        corpus, output, resources, name = sys.argv[1:5]
        cache = os.path.join(os.path.dirname(output), "tiktoken-cache")
        os.makedirs(cache, exist_ok=True)
        for encoding in ("cl100k_base", "o200k_base"):
            url = f"https://openaipublic.blob.core.windows.net/encodings/{encoding}.tiktoken"
            with gzip.open(os.path.join(resources, encoding + ".tiktoken.gz")) as f:
                data = f.read()
            with open(os.path.join(cache, hashlib.sha1(url.encode()).hexdigest()), "wb") as f:
                f.write(data)
        os.environ["TIKTOKEN_CACHE_DIR"] = cache
        import tiktoken
        enc = tiktoken.get_encoding(name)
        with open(corpus, encoding="utf-8") as f:
            strings = json.load(f)
        import regex  # tiktoken's own dependency; its educational encoder splits with it
        pattern = regex.compile(enc._pat_str)
        with open(output, "w") as f:
            for text in strings:
                f.write(" ".join(map(str, enc.encode_ordinary(text))) + "\n")
                f.write(" ".join(str(len(piece.encode())) for piece in pattern.findall(text)) + "\n")
        """#

    /// The shipped rank files, found from this source file's path.
    static var resources: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/TollgateTokenizer/Resources").path
    }

    static var python: String { ProcessInfo.processInfo.environment["TOLLGATE_PYTHON"] ?? "/usr/bin/python3" }

    /// Each string's token ids, and the UTF-8 lengths of the pieces tiktoken's pattern splits it
    /// into under Python's `regex` module.
    static func encode(_ strings: [String], encoding: Encoding) async throws -> (ids: [[Int]], pieces: [[Int]]) {
        let directory = try RedisServer.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let corpus = directory + "/corpus.json", output = directory + "/ids.txt"
        try JSONEncoder().encode(strings).write(to: URL(fileURLWithPath: corpus))
        let process = try ChildProcess(python, ["-c", script, corpus, output, resources, encoding.name])
        let status = await process.wait(timeout: .seconds(300))
        try #require(status == 0, "tiktoken (\(python)) failed: \(process.output.suffix(2000)); run Scripts/test.sh, which installs it")
        let text = try String(contentsOfFile: output, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        let numbers = lines.map { $0.split(separator: " ").map { Int($0)! } }
        return (stride(from: 0, to: numbers.count, by: 2).map { numbers[$0] }, stride(from: 1, to: numbers.count, by: 2).map { numbers[$0] })
    }
}
