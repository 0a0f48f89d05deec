import Foundation
import Synchronization

/// tiktoken's `encode_ordinary` in Swift: pre-tokenise with the encoding's pattern, then
/// byte-pair-merge each piece's UTF-8 bytes against the rank table. Special tokens are
/// ordinary text here, exactly as in `encode_ordinary`.
///
/// Immutable and safe to share; ``shared(_:)`` loads each encoding once per process.
public final class Tokenizer: Sendable {
    public let encoding: Encoding
    private let table: RankTable
    private let pattern: NSRegularExpression

    /// The number of tokens in the vocabulary (without special tokens).
    public var vocabularySize: Int { table.count }

    /// Loads `encoding` from the shipped rank file (checking its SHA-256). Prefer
    /// ``shared(_:)``, which does this once per process.
    public init(loading encoding: Encoding) throws {
        self.encoding = encoding
        self.table = try RankFileLoader.load(encoding)
        do {
            self.pattern = try NSRegularExpression(pattern: encoding.pattern)
        } catch {
            throw TokenizerError(.invalidPattern, "\(encoding.name): \(error)")
        }
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
        guard !text.isEmpty else { return }
        let utf16 = Array(text.utf16)
        var piece: [UInt8] = []
        var merger = BytePairMerger()
        // enumerateMatches takes an escaping block but calls it only before it returns.
        withoutActuallyEscaping(emit) { emit in
            table.withView { view in
                pattern.enumerateMatches(in: text, range: NSRange(location: 0, length: utf16.count)) { match, _, _ in
                    guard let range = match?.range, range.length > 0 else { return }
                    piece.removeAll(keepingCapacity: true)
                    Self.appendUTF8(utf16, range.location, range.location + range.length, to: &piece)
                    piece.withUnsafeBufferPointer { merger.encode($0, table: view, emit: emit) }
                }
            }
        }
    }

    /// Transcodes UTF-16 code units `start..<end` to UTF-8 (the regex never splits a
    /// surrogate pair; a Swift string holds no lone surrogates).
    @inline(__always)
    private static func appendUTF8(_ units: [UInt16], _ start: Int, _ end: Int, to bytes: inout [UInt8]) {
        var i = start
        while i < end {
            let unit = UInt32(units[i])
            i += 1
            if unit < 0x80 {
                bytes.append(UInt8(unit))
            } else if unit < 0x800 {
                bytes.append(UInt8(0xc0 | unit >> 6))
                bytes.append(UInt8(0x80 | unit & 0x3f))
            } else if unit & 0xfc00 == 0xd800, i < end, units[i] & 0xfc00 == 0xdc00 {
                let scalar = 0x10000 + ((unit & 0x3ff) << 10 | UInt32(units[i]) & 0x3ff)
                i += 1
                bytes.append(UInt8(0xf0 | scalar >> 18))
                bytes.append(UInt8(0x80 | scalar >> 12 & 0x3f))
                bytes.append(UInt8(0x80 | scalar >> 6 & 0x3f))
                bytes.append(UInt8(0x80 | scalar & 0x3f))
            } else {
                bytes.append(UInt8(0xe0 | unit >> 12))
                bytes.append(UInt8(0x80 | unit >> 6 & 0x3f))
                bytes.append(UInt8(0x80 | unit & 0x3f))
            }
        }
    }
}
