/// Splits one pre-tokenised piece into tokens exactly as tiktoken's `byte_pair_encode` does:
/// the whole piece if it is a token, otherwise repeatedly merge the adjacent pair with the
/// lowest rank (the leftmost one on ties) until no pair is a token.
///
/// Short pieces use tiktoken's own linear scan over a small array; long pieces (runs of
/// spaces, punctuation, base64 blobs) use a linked list and a min-heap keyed by
/// (rank, position), which picks the same pair at every step in O(n log n).
/// Scratch storage is reused across pieces: one merger per encode call.
struct BytePairMerger {
    /// Pieces at least this long use the heap.
    static let heapThreshold = 128

    private var parts: [(start: Int, rank: UInt32)] = []
    private var next: [Int] = []
    private var previous: [Int] = []
    private var ranks: [UInt32] = []
    private var heap: [UInt64] = []

    init() {}

    /// Calls `emit` with each token's rank, in order.
    @inline(__always)
    mutating func encode(
        _ piece: UnsafeBufferPointer<UInt8>, table: RankTable.View, emit: (UInt32) -> Void
    ) {
        let whole = table.rank(piece, 0, piece.count)
        if whole != RankTable.none {
            emit(whole)
        } else if piece.count < Self.heapThreshold {
            linearMerge(piece, table: table, emit: emit)
        } else {
            heapMerge(piece, table: table, emit: emit)
        }
    }

    private mutating func linearMerge(
        _ piece: UnsafeBufferPointer<UInt8>, table: RankTable.View, emit: (UInt32) -> Void
    ) {
        let count = piece.count
        parts.removeAll(keepingCapacity: true)
        var minimum = (rank: RankTable.none, index: Int.max)
        for i in 0..<(count - 1) {
            let rank = table.rank(piece, i, i + 2)
            if rank < minimum.rank { minimum = (rank, i) }
            parts.append((i, rank))
        }
        parts.append((count - 1, RankTable.none))
        parts.append((count, RankTable.none))

        func pairRank(_ i: Int) -> UInt32 {
            i + 3 < parts.count ? table.rank(piece, parts[i].start, parts[i + 3].start) : RankTable.none
        }

        while minimum.rank != RankTable.none {
            let i = minimum.index
            if i > 0 { parts[i - 1].rank = pairRank(i - 1) }
            parts[i].rank = pairRank(i)
            parts.remove(at: i + 1)
            minimum = (RankTable.none, Int.max)
            for j in 0..<(parts.count - 1) where parts[j].rank < minimum.rank {
                minimum = (parts[j].rank, j)
            }
        }
        for j in 0..<(parts.count - 1) {
            emit(table.rank(piece, parts[j].start, parts[j + 1].start))
        }
    }

    private mutating func heapMerge(
        _ piece: UnsafeBufferPointer<UInt8>, table: RankTable.View, emit: (UInt32) -> Void
    ) {
        let count = piece.count
        // Node i is the part starting at byte i; next[i] == count ends the list, -1 marks a
        // part merged into its left neighbour.
        next.removeAll(keepingCapacity: true)
        previous.removeAll(keepingCapacity: true)
        ranks.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
        for i in 0..<count {
            next.append(i + 1)
            previous.append(i - 1)
            let rank = i + 2 <= count ? table.rank(piece, i, i + 2) : RankTable.none
            ranks.append(rank)
            if rank != RankTable.none { push(Self.key(rank, i)) }
        }

        while let top = pop() {
            let rank = UInt32(truncatingIfNeeded: top >> 32), i = Int(top & 0xffff_ffff)
            guard next[i] >= 0, ranks[i] == rank else { continue }  // stale entry
            let j = next[i]
            let after = next[j]
            next[i] = after
            next[j] = -1
            if after < count { previous[after] = i }
            ranks[i] = after < count ? table.rank(piece, i, next[after]) : RankTable.none
            if ranks[i] != RankTable.none { push(Self.key(ranks[i], i)) }
            let left = previous[i]
            if left >= 0 {
                ranks[left] = table.rank(piece, left, after)
                if ranks[left] != RankTable.none { push(Self.key(ranks[left], left)) }
            }
        }
        var i = 0
        while i < count {
            emit(table.rank(piece, i, next[i]))
            i = next[i]
        }
    }

    @inline(__always)
    private static func key(_ rank: UInt32, _ position: Int) -> UInt64 {
        UInt64(rank) << 32 | UInt64(position)
    }

    private mutating func push(_ key: UInt64) {
        heap.append(key)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child] < heap[parent] else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func pop() -> UInt64? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count, heap[left] < heap[smallest] { smallest = left }
                if right < heap.count, heap[right] < heap[smallest] { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
