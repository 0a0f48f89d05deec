/// Pre-tokenisation: splits text into the pieces that are byte-pair encoded one by one,
/// exactly where the encoding's regular expression (``Encoding/pattern``) would match.
/// Written by hand for each encoding so it runs on the string's UTF-8 bytes without
/// allocating; `TiktokenParityTests` hold both to Python tiktoken.
protocol PieceSplitter {
    init(_ cursor: ScalarCursor)

    /// The end of the piece that starts at `start` (a scalar boundary before the end); pieces
    /// are contiguous and never empty.
    func pieceEnd(from start: Int) -> Int
}

extension PieceSplitter {
    /// Calls `body` with each piece of `text`'s bytes, in order.
    @inline(__always)
    static func forEachPiece(_ text: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        guard let base = text.baseAddress, !text.isEmpty else { return }
        ScalarClassTable.shared.withView { table in
            let splitter = Self(ScalarCursor(bytes: base, end: text.count, table: table))
            var start = 0
            while start < text.count {
                let end = splitter.pieceEnd(from: start)
                body(UnsafeBufferPointer(start: base + start, count: end - start))
                start = end
            }
        }
    }
}

/// Which hand-written splitter an encoding uses.
enum SplitterKind: Hashable, Sendable {
    case cl100k
    case o200k
}
