/// cl100k_base's pre-tokenisation, written out by hand. The pattern (``Encoding/cl100kBase``):
///
///     '(?i:[sdmt]|ll|ve|re) | [^\r\n\p{L}\p{N}]?+\p{L}++ | \p{N}{1,3}+
///     | ?[^\s\p{L}\p{N}]++[\r\n]*+ | \s++$ | \s*[\r\n] | \s+(?!\S) | \s
///
/// Alternatives are tried in order at each position, as tiktoken's backtracking engine does;
/// every scalar starts some alternative, so pieces are contiguous. Where a quantifier can give
/// back (`\s*[\r\n]`, `\s+(?!\S)`), the one forward scan of the white-space run records where
/// the backtracking would stop: after its last CR or LF, or before its last scalar.
struct Cl100kSplitter: PieceSplitter {
    let cursor: ScalarCursor

    init(_ cursor: ScalarCursor) { self.cursor = cursor }

    @inline(__always)
    func pieceEnd(from start: Int) -> Int {
        let end = cursor.end
        let (first, second) = cursor.scalar(at: start)
        // '(?i:[sdmt]|ll|ve|re)
        if let contraction = cursor.contraction(at: start) { return contraction }
        // [^\r\n\p{L}\p{N}]?+\p{L}++
        if ScalarClass.Set.letter.contains(first) { return cursor.skip(.letter, from: second) }
        if ScalarClass.Set.wordPrefix.contains(first), second < end {
            let (next, third) = cursor.scalar(at: second)
            if ScalarClass.Set.letter.contains(next) { return cursor.skip(.letter, from: third) }
        }
        // \p{N}{1,3}+
        if first == ScalarClass.number.rawValue { return cursor.twoMoreNumbers(from: second) }
        // ' ?[^\s\p{L}\p{N}]++[\r\n]*+'
        if cursor.bytes[start] == UInt8(ascii: " "), second < end {
            let (next, third) = cursor.scalar(at: second)
            if ScalarClass.Set.punctuation.contains(next) {
                return cursor.skip(.newline, from: cursor.skip(.punctuation, from: third))
            }
        }
        if ScalarClass.Set.punctuation.contains(first) {
            return cursor.skip(.newline, from: cursor.skip(.punctuation, from: second))
        }
        // What is left starts with white space.
        let (offset, afterLastNewline, lastStart) = cursor.whitespaceRun(from: start)
        if offset == end { return end }                          // \s++$
        if afterLastNewline >= 0 { return afterLastNewline }     // \s*[\r\n]
        if lastStart > start { return lastStart }                // \s+(?!\S)
        return second                                            // \s
    }
}
