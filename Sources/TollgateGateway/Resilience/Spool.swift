import Dispatch
import Foundation
import Glibc
import Synchronization
import TollgateCore

/// A durable, bounded, append-only file of ``SpoolEntry`` lines, owned by one process.
///
/// - Ownership: `init` takes an exclusive lock beside the file (``SpoolLock``); a second
///   process finds it taken and refuses. A dead owner's lock is dropped by the kernel, and
///   the next owner replays what it left.
/// - Durability: every append is written and fsynced before the caller is answered.
///   Appends that arrive together share one write and one fsync (group commit).
/// - I/O: all file work runs on the spool's own serial queue; callers await it without
///   blocking Swift's cooperative pool. Depth and the oldest entry's time are counters in
///   memory, so reading them touches no file.
public final class Spool: Sendable {
    public let path: String
    public let limitBytes: Int
    private let lock: SpoolLock
    private let queue: DispatchQueue
    /// Only touched on `queue` (the lock makes it Sendable; it is never contended).
    private let file: Mutex<OpenFile>
    /// Appends waiting for the next write; the first one in schedules a flush.
    private let inbox = Mutex<[Pending]>([])
    private let counters = Mutex(Counters())

    private struct OpenFile {
        var descriptor: Int32
        var bytes: Int
    }

    private struct Pending: Sendable {
        var line: Data
        var spooledAt: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    /// Entries waiting in the spool, and in a replay taken from it but not yet applied.
    private struct Counters {
        var waiting = 0
        var oldestWaiting: Int64?
        var replaying = 0
        var oldestReplaying: Int64?
    }

    /// What the spool holds, from its in-memory counters.
    public struct Status: Sendable, Equatable {
        /// Entries not yet applied to Redis.
        public var depth: Int
        /// When the oldest of them was taken (ms since 1970), nil when empty.
        public var oldestSpooledAt: Int64?
    }

    /// Takes the spool at `path` for this process (creating it if needed) and counts what
    /// it holds in the background. Throws ``SpoolError`` (`inUse`, `cannotOpen`) with one
    /// sentence naming the file.
    public init(path: String, limitBytes: Int) throws {
        self.path = path
        self.limitBytes = limitBytes
        lock = try SpoolLock(spoolPath: path)
        queue = DispatchQueue(label: "tollgate.spool")
        file = Mutex(try Self.openAppend(path))
        queue.async { [self] in countExisting() }
    }

    deinit {
        _ = file.withLock { close($0.descriptor) }
    }

    var replayingPath: String { path + ".replaying" }
    var deadLetterPath: String { path + ".dead" }

    public var status: Status {
        counters.withLock { counters in
            let oldest = [counters.oldestReplaying, counters.oldestWaiting].compactMap { $0 }.min()
            return Status(depth: counters.waiting + counters.replaying, oldestSpooledAt: oldest)
        }
    }

    /// Entries not yet applied to Redis (in the spool and in an unfinished replay).
    public var depth: Int { status.depth }

    // MARK: Appending

    /// Keeps `entry` durably, or throws ``SpoolError`` (`full`, `writeFailed`) having kept
    /// nothing of it.
    func append(_ entry: SpoolEntry) async throws {
        let line = try entry.line()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let first = inbox.withLock { inbox in
                inbox.append(Pending(line: line, spooledAt: entry.spooledAt, continuation: continuation))
                return inbox.count == 1
            }
            if first { queue.async { [self] in flush() } }
        }
    }

    /// Writes every waiting append with one write and one fsync. On a failure the file is
    /// cut back to where it was, so a line is either whole and answered 202 or absent.
    private func flush() {
        let batch = inbox.withLock { inbox in
            defer { inbox.removeAll(keepingCapacity: true) }
            return inbox
        }
        guard !batch.isEmpty else { return }
        var accepted: [Pending] = []
        var refused: [Pending] = []
        var buffer = Data()
        file.withLock { file in
            for pending in batch {
                if file.bytes + buffer.count + pending.line.count > limitBytes {
                    refused.append(pending)
                } else {
                    buffer.append(pending.line)
                    accepted.append(pending)
                }
            }
            guard !accepted.isEmpty else { return }
            do {
                try Self.writeAll(buffer, to: file.descriptor, path: path)
                guard fsync(file.descriptor) == 0 else { throw SpoolError(.writeFailed, "cannot sync the spool \(path): \(SpoolError.systemError)") }
                file.bytes += buffer.count
            } catch {
                _ = ftruncate(file.descriptor, off_t(file.bytes))
                for pending in accepted { pending.continuation.resume(throwing: error) }
                accepted = []
            }
        }
        if !accepted.isEmpty {
            counters.withLock { counters in
                counters.waiting += accepted.count
                counters.oldestWaiting = min(counters.oldestWaiting ?? .max, accepted.map(\.spooledAt).min() ?? .max)
            }
            for pending in accepted { pending.continuation.resume() }
        }
        let full = SpoolError(.full, "the spool \(path) reached its limit of \(limitBytes) bytes (--spool-limit)")
        for pending in refused { pending.continuation.resume(throwing: full) }
    }

    // MARK: Replaying

    /// What a replay works through.
    struct ReplayBatch: Sendable {
        /// Whether there was a replay file at all (even one with no entries must be finished).
        var found = true
        var entries: [SpoolEntry]
        /// Lines that are not entries (a write cut short by a crash); moved to the dead letters.
        var unreadable: Int
    }

    /// The entries to replay: an unfinished replay's file, or else the spool itself, moved
    /// aside so that new entries go to a fresh file meanwhile. Empty when there is nothing.
    func beginReplay() async throws -> ReplayBatch {
        try await onQueue { [self] in
            if access(replayingPath, F_OK) != 0 {
                let moved = try file.withLock { file -> Bool in
                    guard file.bytes > 0 else { return false }
                    guard rename(path, replayingPath) == 0 else {
                        throw SpoolError(.replayFailed, "cannot move the spool \(path) aside: \(SpoolError.systemError)")
                    }
                    close(file.descriptor)
                    file = try Self.openAppend(path)
                    return true
                }
                guard moved else { return ReplayBatch(found: false, entries: [], unreadable: 0) }
                counters.withLock { counters in
                    counters.replaying = counters.waiting
                    counters.oldestReplaying = counters.oldestWaiting
                    counters.waiting = 0
                    counters.oldestWaiting = nil
                }
            }
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: replayingPath))
            } catch {
                throw SpoolError(.replayFailed, "cannot read \(replayingPath): \(error.localizedDescription)")
            }
            var batch = ReplayBatch(entries: [], unreadable: 0)
            for line in data.split(separator: UInt8(ascii: "\n")) {
                if let entry = try? SpoolEntry(line: line) {
                    batch.entries.append(entry)
                } else {
                    batch.unreadable += 1
                    var dead = Data(line)
                    dead.append(contentsOf: Array(" # unreadable spool line\n".utf8))
                    try? Self.appendDurably(dead, to: deadLetterPath)
                }
            }
            replayed(remaining: batch.entries[...])
            return batch
        }
    }

    /// A replay has applied (or set aside) everything before `remaining`.
    func replayed(remaining: ArraySlice<SpoolEntry>) {
        counters.withLock { counters in
            counters.replaying = remaining.count
            counters.oldestReplaying = remaining.first?.spooledAt
        }
    }

    /// The replay is complete: its file goes.
    func finishReplay() async throws {
        try await onQueue { [self] in
            if unlink(replayingPath) != 0 && errno != ENOENT {
                throw SpoolError(.replayFailed, "cannot remove \(replayingPath): \(SpoolError.systemError)")
            }
            replayed(remaining: [])
        }
    }

    /// An entry that can never be replayed (its api_key is gone): kept apart for an operator.
    func deadLetter(_ entry: SpoolEntry, reason: String) async {
        try? await onQueue { [self] in
            var line = try JSONEncoder().encode(entry)
            line.append(contentsOf: Array(" # \(reason)\n".utf8))
            try Self.appendDurably(line, to: deadLetterPath)
        }
    }

    /// Removes the drained spool and then its lock, for a node that will not come back.
    /// Does nothing unless both the spool and any replay are empty.
    func removeIfDrained() async throws -> Bool {
        try await onQueue { [self] in
            guard access(replayingPath, F_OK) != 0, file.withLock({ $0.bytes == 0 }) else { return false }
            unlink(path)
            lock.remove()
            return true
        }
    }

    // MARK: Plumbing (on `queue`)

    /// Counts what an earlier owner left: the spool and an unfinished replay.
    private func countExisting() {
        let waiting = Self.census(path)
        let replaying = Self.census(replayingPath)
        counters.withLock { counters in
            counters.waiting += waiting.lines
            counters.oldestWaiting = [counters.oldestWaiting, waiting.oldest].compactMap { $0 }.min()
            counters.replaying += replaying.lines
            counters.oldestReplaying = replaying.oldest
        }
    }

    /// Lines in a spool file, and the time of its first entry.
    private static func census(_ path: String) -> (lines: Int, oldest: Int64?) {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)), !data.isEmpty else { return (0, nil) }
        let lines = data.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
        let first = data.prefix { $0 != UInt8(ascii: "\n") }
        return (lines, (try? SpoolEntry(line: first))?.spooledAt)
    }

    private static func openAppend(_ path: String) throws -> OpenFile {
        let descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw SpoolError(.cannotOpen, "cannot open the spool \(SpoolLock.absolute(path)): \(SpoolError.systemError); choose another file with --spool")
        }
        var info = stat()
        fstat(descriptor, &info)
        var bytes = Int(info.st_size)
        // A line cut short by a crash (never answered) is closed, so that the next entry
        // starts on a line of its own; the replay sets the fragment aside.
        var last: UInt8 = 0
        if bytes > 0, pread(descriptor, &last, 1, off_t(bytes - 1)) == 1, last != UInt8(ascii: "\n"),
           write(descriptor, [UInt8(ascii: "\n")], 1) == 1 {
            fsync(descriptor)
            bytes += 1
        }
        return OpenFile(descriptor: descriptor, bytes: bytes)
    }

    private static func appendDurably(_ data: Data, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SpoolError(.writeFailed, "cannot open \(path): \(SpoolError.systemError)") }
        defer { close(descriptor) }
        try writeAll(data, to: descriptor, path: path)
        fsync(descriptor)
    }

    private static func writeAll(_ data: Data, to descriptor: Int32, path: String) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SpoolError(.writeFailed, "cannot write to \(path): \(SpoolError.systemError)")
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
}
