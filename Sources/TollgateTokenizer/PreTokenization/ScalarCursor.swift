/// Reads the scalars of valid UTF-8 (a Swift string's bytes) by byte offset: each step gives a
/// scalar's ``ScalarClass`` and the offset of the next scalar. ASCII takes one table load;
/// other scalars are decoded and looked up in ``ScalarClassTable``.
struct ScalarCursor {
    let bytes: UnsafePointer<UInt8>
    /// The number of bytes.
    let end: Int
    let table: ScalarClassTable.View

    /// The raw ``ScalarClass`` of the scalar at `offset` (< `end`) and the next scalar's offset.
    @inline(__always)
    func scalar(at offset: Int) -> (class: UInt8, next: Int) {
        let lead = UInt32(bytes[offset])
        if lead < 0x80 {
            return (table.classes[Int(lead)], offset + 1)  // block 0 is stored first
        }
        if lead < 0xe0 {
            let scalar = (lead & 0x1f) << 6 | UInt32(bytes[offset + 1]) & 0x3f
            return (table.rawClass(scalar), offset + 2)
        }
        if lead < 0xf0 {
            let scalar = (lead & 0x0f) << 12 | (UInt32(bytes[offset + 1]) & 0x3f) << 6 | UInt32(bytes[offset + 2]) & 0x3f
            return (table.rawClass(scalar), offset + 3)
        }
        let scalar = (lead & 0x07) << 18 | (UInt32(bytes[offset + 1]) & 0x3f) << 12
            | (UInt32(bytes[offset + 2]) & 0x3f) << 6 | UInt32(bytes[offset + 3]) & 0x3f
        return (table.rawClass(scalar), offset + 4)
    }

    /// Skips scalars in `set` from `offset`; the offset of the first scalar not in it (or `end`).
    @inline(__always)
    func skip(_ set: ScalarClass.Set, from offset: Int) -> Int {
        var offset = offset
        while offset < end {
            let (rawClass, next) = scalar(at: offset)
            guard set.contains(rawClass) else { break }
            offset = next
        }
        return offset
    }

    /// `\p{N}{0,2}` from `offset`: the rest of a run of at most three numbers.
    @inline(__always)
    func twoMoreNumbers(from offset: Int) -> Int {
        var offset = offset
        for _ in 0..<2 where offset < end {
            let (rawClass, next) = scalar(at: offset)
            guard rawClass == ScalarClass.number.rawValue else { break }
            offset = next
        }
        return offset
    }

    /// The run of white space from `offset`: its end, the offset after its last CR or LF (-1 if
    /// none) and the start of its last scalar, which are where `\s*[\r\n]` and `\s+(?!\S)`
    /// stop when they backtrack.
    @inline(__always)
    func whitespaceRun(from start: Int) -> (end: Int, afterLastNewline: Int, lastStart: Int) {
        var offset = start, afterLastNewline = -1, lastStart = start
        while offset < end {
            let (rawClass, next) = scalar(at: offset)
            guard ScalarClass.Set.whitespace.contains(rawClass) else { break }
            if ScalarClass.Set.newline.contains(rawClass) { afterLastNewline = next }
            lastStart = offset
            offset = next
        }
        return (offset, afterLastNewline, lastStart)
    }

    /// The end of a contraction at `offset` (`'` then one of `endings`, ASCII letters compared
    /// without case as the patterns' `(?i:...)` does, where `ſ` (U+017F) folds to `s`), or nil.
    @inline(__always)
    func contraction(at offset: Int) -> Int? {
        guard offset < end, bytes[offset] == UInt8(ascii: "'") else { return nil }
        guard let (first, afterFirst) = foldedLetter(at: offset + 1) else { return nil }
        switch first {
        case UInt8(ascii: "s"), UInt8(ascii: "d"), UInt8(ascii: "m"), UInt8(ascii: "t"):
            return afterFirst
        case UInt8(ascii: "l"), UInt8(ascii: "v"), UInt8(ascii: "r"):
            guard let (second, afterSecond) = foldedLetter(at: afterFirst) else { return nil }
            let wanted = first == UInt8(ascii: "l") ? UInt8(ascii: "l") : UInt8(ascii: "e")
            return second == wanted ? afterSecond : nil
        default:
            return nil
        }
    }

    /// The lower-case ASCII letter at `offset` (or `s` for `ſ`) and the offset after it.
    @inline(__always)
    private func foldedLetter(at offset: Int) -> (UInt8, Int)? {
        guard offset < end else { return nil }
        let byte = bytes[offset]
        if byte | 0x20 >= UInt8(ascii: "a"), byte | 0x20 <= UInt8(ascii: "z") { return (byte | 0x20, offset + 1) }
        if byte == 0xc5, offset + 1 < end, bytes[offset + 1] == 0xbf { return (UInt8(ascii: "s"), offset + 2) }
        return nil
    }
}
