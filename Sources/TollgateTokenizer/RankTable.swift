import Foundation

/// tiktoken's mergeable ranks: every token's bytes, looked up by byte sequence without
/// allocating.
///
/// The tokens are stored back to back in rank order (`bytes`, `offsets`), and an
/// open-addressing hash table (`slots`, rank + 1, 0 for empty) finds a rank from any byte
/// slice. Both vocabularies together take a few MiB (see Docs/benchmarks.md).
struct RankTable: Sendable {
    /// Rank used for "no such token".
    static let none = UInt32.max

    private let bytes: [UInt8]
    private let offsets: [UInt32]
    private let slots: [UInt32]
    private let shift: UInt64

    /// The number of tokens.
    var count: Int { offsets.count - 1 }

    /// A table of tokens given in rank order: `offsets[r]..<offsets[r + 1]` of `bytes` is
    /// token `r`'s byte sequence.
    init(bytes: [UInt8], offsets: [UInt32]) {
        precondition(offsets.count >= 2 && offsets.count - 1 < Int(UInt32.max))
        self.bytes = bytes
        self.offsets = offsets
        var bits = 1
        while (1 << bits) < (offsets.count - 1) * 2 { bits += 1 }
        shift = UInt64(64 - bits)
        var slots = [UInt32](repeating: 0, count: 1 << bits)
        let mask = (1 << bits) - 1
        bytes.withUnsafeBufferPointer { all in
            for rank in 0..<(offsets.count - 1) {
                let start = Int(offsets[rank]), end = Int(offsets[rank + 1])
                let token = UnsafeBufferPointer(rebasing: all[start..<end])
                var slot = Int(truncatingIfNeeded: RankTable.hash(token) >> (64 - UInt64(bits)))
                while slots[slot] != 0 { slot = (slot + 1) & mask }
                slots[slot] = UInt32(rank + 1)
            }
        }
        self.slots = slots
    }

    /// Calls `body` with a view for fast lookups; the view must not escape.
    func withView<Result>(_ body: (View) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBufferPointer { bytes in
            try offsets.withUnsafeBufferPointer { offsets in
                try slots.withUnsafeBufferPointer { slots in
                    try body(View(bytes: bytes, offsets: offsets, slots: slots, shift: shift))
                }
            }
        }
    }

    /// The bytes of token `rank` (for decoding and tests).
    func token(_ rank: Int) -> ArraySlice<UInt8> {
        bytes[Int(offsets[rank])..<Int(offsets[rank + 1])]
    }

    /// A borrowed view of the table for the hot path.
    struct View {
        let bytes: UnsafeBufferPointer<UInt8>
        let offsets: UnsafeBufferPointer<UInt32>
        let slots: UnsafeBufferPointer<UInt32>
        let shift: UInt64

        /// The rank of `piece[start..<end]`, or ``RankTable/none``.
        @inline(__always)
        func rank(_ piece: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UInt32 {
            let key = UnsafeBufferPointer(rebasing: piece[start..<end])
            let mask = slots.count - 1
            var slot = Int(truncatingIfNeeded: RankTable.hash(key) >> shift)
            while true {
                let entry = slots[slot]
                if entry == 0 { return RankTable.none }
                let rank = Int(entry - 1)
                let tokenStart = Int(offsets[rank]), tokenEnd = Int(offsets[rank + 1])
                if tokenEnd - tokenStart == key.count,
                   memcmp(bytes.baseAddress! + tokenStart, key.baseAddress!, key.count) == 0 {
                    return UInt32(rank)
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// FNV-1a over the bytes, then a multiplicative mix so the top bits are usable.
    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        hash ^= hash >> 29
        return hash &* 0x9e37_79b9_7f4a_7c15
    }
}
