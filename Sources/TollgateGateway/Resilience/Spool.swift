import Dispatch
import Foundation
import Glibc
import TollgateCore

/// A commit, record or release that could not reach Redis, kept until it can be replayed.
struct SpoolEntry: Codable, Sendable, Equatable {
    enum Operation: String, Codable, Sendable { case commit, record, release }

    var operation: Operation
    var requestID: String
    var apiKey: String
    var usage: TokenUsage?
    var format: UsageFormat?
    var model: String?
    var provider: String?
    var priceVersion: String?
    /// Effective prices (nano-units per 1M tokens), as resolved when the request came in.
    var prices: [Int64]?
    var user: String?
    var feature: String?
    var session: String?
    var experiment: String?
    var latencyMillis: Int64?
    var cacheHit: Bool?
    var spooledAt: Int64

    var resolvedPrice: ResolvedPrice? {
        guard let model, let prices, prices.count == 5 else { return nil }
        return ResolvedPrice(model: model, provider: provider ?? "", prices: TokenPrices(input: prices[0], output: prices[3], cachedInput: prices[1], cacheWrite: prices[2], reasoning: prices[4]),
                             versionID: priceVersion ?? "\(model)@?")
    }
}

public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// A durable, bounded, append-only file of ``SpoolEntry`` lines. Every append is written and
/// fsynced before the request is answered, so usage is never lost to a Redis outage; the
/// ``SpoolReplayer`` replays the file once Redis answers again (idempotently: settling is
/// keyed by request id). File I/O runs on its own serial queue, never on the cooperative pool.
public final class Spool: Sendable {
    public let path: String
    public let limitBytes: Int
    private let queue = DispatchQueue(label: "tollgate.spool")
    /// Guarded by `queue`: the open descriptor, its size and entry count.
    private let state: UnsafeState

    private final class UnsafeState: @unchecked Sendable {
        // Only touched on `queue`.
        var descriptor: Int32 = -1
        var bytes = 0
        var entries = 0
    }

    public init(path: String, limitBytes: Int) throws {
        self.path = path
        self.limitBytes = limitBytes
        state = UnsafeState()
        try queue.sync {
            try openAppend()
            let existing = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
            state.bytes = existing.count
            state.entries = existing.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
        }
    }

    deinit {
        if state.descriptor >= 0 { close(state.descriptor) }
    }

    private var replayingPath: String { path + ".replaying" }
    private var deadLetterPath: String { path + ".dead" }

    /// Entries waiting in the spool and in an unfinished replay.
    public var depth: Int {
        queue.sync { state.entries + Self.lineCount(replayingPath) }
    }

    func append(_ entry: SpoolEntry) async throws {
        var encoded = try JSONEncoder().encode(entry)
        encoded.append(UInt8(ascii: "\n"))
        let line = encoded
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async { [self] in
                do {
                    guard state.bytes + line.count <= limitBytes else {
                        throw SpoolError(description: "the spool is full (\(limitBytes) bytes)")
                    }
                    try writeAll(line, to: state.descriptor)
                    guard fsync(state.descriptor) == 0 else { throw SpoolError(description: "fsync failed: \(String(cString: strerror(errno)))") }
                    state.bytes += line.count
                    state.entries += 1
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// The entries to replay: an unfinished replay's file, or else the spool itself, moved
    /// aside so that new entries go to a fresh file meanwhile.
    func beginReplay() async throws -> [SpoolEntry] {
        try await onQueue { [self] in
            if access(replayingPath, F_OK) != 0 {
                guard state.entries > 0 else { return [] }
                close(state.descriptor)
                guard rename(path, replayingPath) == 0 else { throw SpoolError(description: "cannot move the spool aside: \(String(cString: strerror(errno)))") }
                try openAppend()
                state.bytes = 0
                state.entries = 0
            }
            let data = (try? Data(contentsOf: URL(fileURLWithPath: replayingPath))) ?? Data()
            return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONDecoder().decode(SpoolEntry.self, from: Data($0)) }
        }
    }

    /// The replay is complete: its file goes.
    func finishReplay() async throws {
        try await onQueue { [self] in
            if unlink(replayingPath) != 0 && errno != ENOENT { throw SpoolError(description: "cannot remove \(replayingPath)") }
        }
    }

    /// An entry that can never be replayed (its api_key is gone): kept apart for an operator.
    func deadLetter(_ entry: SpoolEntry, reason: String) async {
        try? await onQueue { [self] in
            var line = try JSONEncoder().encode(entry)
            line.append(contentsOf: Array(" # \(reason)\n".utf8))
            let descriptor = open(deadLetterPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            guard descriptor >= 0 else { return }
            defer { close(descriptor) }
            try writeAll(line, to: descriptor)
            fsync(descriptor)
        }
    }

    // MARK: Plumbing (on `queue`)

    private func openAppend() throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SpoolError(description: "cannot open the spool \(path): \(String(cString: strerror(errno)))") }
        state.descriptor = descriptor
    }

    private func writeAll(_ data: Data, to descriptor: Int32) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SpoolError(description: "write to the spool failed: \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
    }

    private func onQueue<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    private static func lineCount(_ path: String) -> Int {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)) else { return 0 }
        return data.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    }
}
