/// o200k_base's pre-tokenisation, written out by hand. The pattern (``Encoding/o200kBase``),
/// with `U` = `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`, `W` = `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`,
/// `P` = `[^\r\n\p{L}\p{N}]` and `C` = `(?i:'s|'t|'re|'ve|'m|'ll|'d)`:
///
///     P?U*W+C? | P?U+W*C? | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n/]*
///     | \s*[\r\n]+ | \s+(?!\S) | \s+
///
/// Nothing here is possessive, so where an alternative fails the engine backtracks: the
/// optional `P` is given up (which matters only when it is a mark, itself in `U` and `W`), and
/// `U*` gives back scalars until `W+` can start, which is right after the run of `U` or else at
/// its last scalar that is also in `W` (recorded during the one forward scan).
struct O200kSplitter: PieceSplitter {
    let cursor: ScalarCursor

    init(_ cursor: ScalarCursor) { self.cursor = cursor }

    @inline(__always)
    func pieceEnd(from start: Int) -> Int {
        let end = cursor.end
        let (first, second) = cursor.scalar(at: start)
        let prefixed = ScalarClass.Set.wordPrefix.contains(first) && second < end
        // P?U*W+C?
        if prefixed, let word = upperThenLower(from: second) { return word }
        if let word = upperThenLower(from: start) { return word }
        // P?U+W*C?
        if prefixed, let word = capitalised(from: second) { return word }
        if let word = capitalised(from: start) { return word }
        // \p{N}{1,3}
        if first == ScalarClass.number.rawValue { return cursor.twoMoreNumbers(from: second) }
        // ' ?[^\s\p{L}\p{N}]+[\r\n/]*'
        if cursor.bytes[start] == UInt8(ascii: " "), second < end {
            let (next, third) = cursor.scalar(at: second)
            if ScalarClass.Set.punctuation.contains(next) { return newlinesOrSlashes(from: cursor.skip(.punctuation, from: third)) }
        }
        if ScalarClass.Set.punctuation.contains(first) {
            return newlinesOrSlashes(from: cursor.skip(.punctuation, from: second))
        }
        // What is left starts with white space.
        let (offset, afterLastNewline, lastStart) = cursor.whitespaceRun(from: start)
        if afterLastNewline >= 0 { return afterLastNewline }     // \s*[\r\n]+
        if offset == end { return end }                          // \s+(?!\S) at the end
        if lastStart > start { return lastStart }                // \s+(?!\S)
        return second                                            // \s+ (one scalar)
    }

    /// `U*W+C?` from `offset`, or nil.
    @inline(__always)
    private func upperThenLower(from offset: Int) -> Int? {
        let end = cursor.end
        var offset = offset, afterLastBoth = -1
        while offset < end {
            let (rawClass, next) = cursor.scalar(at: offset)
            if ScalarClass.Set.upperLike.contains(rawClass) {
                if ScalarClass.Set.lowerLike.contains(rawClass) { afterLastBoth = next }
                offset = next
            } else if ScalarClass.Set.lowerLike.contains(rawClass) {
                return withContraction(cursor.skip(.lowerLike, from: next))
            } else {
                break
            }
        }
        return afterLastBoth >= 0 ? withContraction(afterLastBoth) : nil
    }

    /// `U+W*C?` from `offset`, or nil.
    @inline(__always)
    private func capitalised(from offset: Int) -> Int? {
        guard offset < cursor.end else { return nil }
        let (rawClass, next) = cursor.scalar(at: offset)
        guard ScalarClass.Set.upperLike.contains(rawClass) else { return nil }
        return withContraction(cursor.skip(.lowerLike, from: cursor.skip(.upperLike, from: next)))
    }

    @inline(__always)
    private func withContraction(_ offset: Int) -> Int {
        cursor.contraction(at: offset) ?? offset
    }

    /// `[\r\n/]*` from `offset`.
    @inline(__always)
    private func newlinesOrSlashes(from offset: Int) -> Int {
        var offset = offset
        while offset < cursor.end {
            let byte = cursor.bytes[offset]
            guard byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "/") else { break }
            offset += 1
        }
        return offset
    }
}
