import Foundation
import Synchronization

/// tiktoken's `encode_ordinary` in Swift: pre-tokenise the UTF-8 bytes as the encoding's
/// pattern would (a hand-written ``PieceSplitter``), then byte-pair-merge each piece against
/// the rank table. Special tokens are ordinary text here, exactly as in `encode_ordinary`.
///
/// Immutable and safe to share; ``shared(_:)`` loads each encoding once per process.
public final class Tokenizer: Sendable {
    public let encoding: Encoding
    private let table: RankTable

    /// The number of tokens in the vocabulary (without special tokens).
    public var vocabularySize: Int { table.count }

    /// Loads `encoding` from the shipped rank file (checking its SHA-256). Prefer
    /// ``shared(_:)``, which does this once per process.
    public init(loading encoding: Encoding) throws {
        self.encoding = encoding
        self.table = try RankFileLoader.load(encoding)
        _ = ScalarClassTable.shared  // built here, not on the first count
    }

    /// The process-wide tokenizer for `encoding`, loaded on first use on the calling thread
    /// (once: concurrent callers wait; a failed load is remembered and rethrown). For tools
    /// and tests; async code uses ``loaded(_:)``.
    public static func shared(_ encoding: Encoding) throws -> Tokenizer {
        try cache.withLock { state in
            if let result = state.results[encoding] { return result }
            let result = Result { try Tokenizer(loading: encoding) }
            state.results[encoding] = result
            return result
        }.get()
    }

    /// The process-wide tokenizer for `encoding`. The first call loads it on a thread of its
    /// own (never blocking Swift's cooperative pool for the ~0.1-0.5 s a load takes) and
    /// every caller meanwhile awaits that one load.
    public static func loaded(_ encoding: Encoding) async throws -> Tokenizer {
        if let ready = cache.withLock({ $0.results[encoding] }) { return try ready.get() }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Tokenizer, any Error>) in
            let (ready, first) = cache.withLock { state -> (Result<Tokenizer, any Error>?, Bool) in
                if let result = state.results[encoding] { return (result, false) }
                state.waiters[encoding, default: []].append(continuation)
                return (nil, state.waiters[encoding]!.count == 1)
            }
            if let ready { return continuation.resume(with: ready) }
            guard first else { return }
            Thread.detachNewThread {
                let result = Result { try Tokenizer(loading: encoding) }
                let waiters = cache.withLock { state in
                    state.results[encoding] = state.results[encoding] ?? result
                    return state.waiters.removeValue(forKey: encoding) ?? []
                }
                for waiter in waiters { waiter.resume(with: result) }
            }
        }
    }

    private struct Cache {
        var results: [Encoding: Result<Tokenizer, any Error>] = [:]
        var waiters: [Encoding: [CheckedContinuation<Tokenizer, any Error>]] = [:]
    }

    private static let cache = Mutex(Cache())

    /// The token ids of `text`, identical to tiktoken's `encode_ordinary`.
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3)
        forEachToken(in: text) { ids.append(Int($0)) }
        return ids
    }

    /// The number of tokens in `text` (`len(encode_ordinary(text))`).
    public func count(_ text: String) -> Int {
        var count = 0
        forEachToken(in: text) { _ in count += 1 }
        return count
    }

    /// The UTF-8 bytes of token `id` (nil if there is no such token).
    public func bytes(of id: Int) -> [UInt8]? {
        guard id >= 0, id < table.count else { return nil }
        return Array(table.token(id))
    }

    private func forEachToken(in text: String, _ emit: (UInt32) -> Void) {
        var text = text  // withUTF8 copies only a string that is not contiguous UTF-8 already
        text.withUTF8 { bytes in
            table.withView { view in
                var merger = BytePairMerger()
                switch encoding.splitter {
                case .cl100k:
                    Cl100kSplitter.forEachPiece(bytes) { merger.encode($0, table: view, emit: emit) }
                case .o200k:
                    O200kSplitter.forEachPiece(bytes) { merger.encode($0, table: view, emit: emit) }
                }
            }
        }
    }

    /// The pieces `text` is split into before merging (for tests).
    func pieces(_ text: String) -> [String] {
        var text = text
        var pieces: [String] = []
        text.withUTF8 { bytes in
            let collect: (UnsafeBufferPointer<UInt8>) -> Void = { pieces.append(String(decoding: $0, as: UTF8.self)) }
            switch encoding.splitter {
            case .cl100k: Cl100kSplitter.forEachPiece(bytes, collect)
            case .o200k: O200kSplitter.forEachPiece(bytes, collect)
            }
        }
        return pieces
    }
}
