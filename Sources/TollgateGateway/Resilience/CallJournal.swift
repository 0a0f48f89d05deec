import Foundation
import Glibc
import Synchronization
import TollgateCore

/// The proxied calls in flight on this node, on disk, so that a gateway killed mid-call
/// (SIGKILL, a crash) does not leave them unbilled: the next owner of the node's spool
/// turns each call the journal left open into a spooled commit of what is known — the
/// prompt as counted plus the output tokens relayed up to the last mark — with the ledger's
/// `usage_format` `recovered` (``UsageFormat/recovered``).
///
/// - Ownership: the journal is `<spool>.calls`, covered by the spool's lock (``SpoolLock``):
///   whoever holds the spool holds its journal, so recovery needs no second lock and happens
///   wherever the spool is replayed (the restarted gateway, or `tollgate spool replay`).
/// - Cost: one `write` to the page cache per event (admitted, output relayed, settled), no
///   `fsync`. A killed process's writes survive in the page cache; a machine crash may lose
///   the last ones (and the open calls of a machine that never comes back go unbilled, as
///   before: their holds expire and are refunded).
/// - Size: the file is rewritten with only the open calls once it passes `compactionBytes`.
///
/// Lines: `b <spool entry JSON>` (a call admitted: its commit with the prompt alone),
/// `o <request id> <output tokens>` (relayed so far, cumulative), `e <request id>` (settled
/// or released: nothing to recover).
final class CallJournal: Sendable {
    let path: String
    let compactionBytes: Int
    private let state: Mutex<State>

    private struct State {
        var descriptor: Int32
        var bytes: Int
        /// Open calls: their begin line and the output tokens last marked.
        var open: [String: OpenCall]
    }

    private struct OpenCall {
        var begin: [UInt8]
        var output: Int64
    }

    /// Where an earlier owner's journal waits for ``recover(into:)``.
    var orphanedPath: String { path + ".orphaned" }

    /// The journal of the spool at `spoolPath`, whose lock this process must hold. What an
    /// earlier owner left is moved to ``orphanedPath`` first (durably), for ``recover(into:)``.
    init(spoolPath: String, compactionBytes: Int = 4 << 20) throws {
        path = spoolPath + ".calls"
        self.compactionBytes = compactionBytes
        if let left = FileManager.default.contents(atPath: path), !left.isEmpty {
            var moved = left
            if moved.last != UInt8(ascii: "\n") { moved.append(UInt8(ascii: "\n")) }
            try Self.appendDurably(moved, to: path + ".orphaned")
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw SpoolError(.cannotOpen, "cannot open the call journal \(SpoolLock.absolute(path)): \(SpoolError.systemError)")
        }
        state = Mutex(State(descriptor: descriptor, bytes: 0, open: [:]))
    }

    deinit {
        _ = state.withLock { close($0.descriptor) }
    }

    /// Calls open in the journal now.
    var openCalls: Int { state.withLock { $0.open.count } }

    // MARK: Marks (the hot path: one write each, no fsync)

    /// A call was admitted: `entry` is its commit with the prompt alone.
    func begin(_ entry: SpoolEntry) {
        let line = entry.journalBeginLine
        state.withLock { state in
            state.open[entry.requestID] = OpenCall(begin: line, output: 0)
            write(line, &state)
        }
    }

    /// The call has relayed `output` tokens so far.
    func relayed(_ requestID: String, output: Int64) {
        let line = Array("o \(requestID) \(output)\n".utf8)
        state.withLock { state in
            guard state.open[requestID] != nil else { return }
            state.open[requestID]?.output = output
            write(line, &state)
        }
    }

    /// The call was settled or released (or spooled): nothing left to recover.
    func end(_ requestID: String) {
        let line = Array("e \(requestID)\n".utf8)
        state.withLock { state in
            guard state.open.removeValue(forKey: requestID) != nil else { return }
            write(line, &state)
            if state.bytes > compactionBytes { compact(&state) }
        }
    }

    /// Best effort: a journal that cannot be written never fails a call.
    private func write(_ line: [UInt8], _ state: inout State) {
        if (try? Self.writeAll(line, to: state.descriptor)) != nil { state.bytes += line.count }
    }

    /// Rewrites the file with the open calls alone (a new file renamed over the old one).
    private func compact(_ state: inout State) {
        var content: [UInt8] = []
        for (id, call) in state.open {
            content.append(contentsOf: call.begin)
            if call.output > 0 {
                content.append(contentsOf: Array("o \(id) \(call.output)\n".utf8))
            }
        }
        let fresh = path + ".compacting"
        let descriptor = open(fresh, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        guard (try? Self.writeAll(content, to: descriptor)) != nil, rename(fresh, path) == 0 else {
            close(descriptor)
            unlink(fresh)
            return
        }
        close(state.descriptor)
        state.descriptor = descriptor
        state.bytes = content.count
    }

    // MARK: Recovery

    /// The calls an earlier owner left open, each as the commit of what is known: the prompt
    /// (at least one token) plus the output relayed up to its last mark, `recovered`.
    static func openCalls(in data: Data) -> [SpoolEntry] {
        var open: [String: SpoolEntry] = [:]
        var order: [String] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard line.count > 2 else { continue }
            let body = line.dropFirst(2)
            switch line.first {
            case UInt8(ascii: "b"):
                // A line cut short by the kill is not an entry: skipped.
                guard let entry = try? SpoolEntry(journalBegin: line) else { continue }
                if open[entry.requestID] == nil { order.append(entry.requestID) }
                open[entry.requestID] = entry
            case UInt8(ascii: "o"):
                let parts = body.split(separator: UInt8(ascii: " "))
                guard parts.count == 2, let output = Int64(String(decoding: parts[1], as: UTF8.self)) else { continue }
                let id = String(decoding: parts[0], as: UTF8.self)
                guard var entry = open[id], var usage = entry.usage else { continue }
                usage.output = max(usage.output, output)
                entry.usage = usage
                open[id] = entry
            case UInt8(ascii: "e"):
                open[String(decoding: body, as: UTF8.self)] = nil
            default:
                continue
            }
        }
        return order.compactMap { id in
            guard var entry = open[id] else { return nil }
            var usage = entry.usage ?? TokenUsage()
            usage.input = max(usage.input, 1)
            entry.usage = usage
            entry.format = .recovered
            return entry
        }
    }

    /// Spools a commit for every call an earlier owner left open (durably), then removes
    /// the orphaned journal. Returns how many. A crash in between spools them again later:
    /// harmless, commits are idempotent by request id.
    func recover(into spool: Spool) async throws -> Int {
        guard let data = FileManager.default.contents(atPath: orphanedPath) else { return 0 }
        let calls = Self.openCalls(in: data)
        for call in calls { try await spool.append(call) }
        if unlink(orphanedPath) != 0 && errno != ENOENT {
            throw SpoolError(.replayFailed, "cannot remove \(orphanedPath): \(SpoolError.systemError)")
        }
        return calls.count
    }

    /// Removes the (empty) journal file, for a node drained for good.
    func remove() { unlink(path) }

    // MARK: Plumbing

    private static func appendDurably(_ data: Data, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SpoolError(.cannotOpen, "cannot open \(SpoolLock.absolute(path)): \(SpoolError.systemError)") }
        defer { close(descriptor) }
        try writeAll(Array(data), to: descriptor)
        guard fsync(descriptor) == 0 else { throw SpoolError(.writeFailed, "cannot sync \(path): \(SpoolError.systemError)") }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SpoolError(.writeFailed, "cannot write the call journal: \(SpoolError.systemError)")
                }
                offset += written
            }
        }
    }
}

extension SpoolEntry {
    /// The journal's `b ` line: the entry as the JSON `JSONDecoder` reads back, written by
    /// hand because Foundation's `JSONEncoder` costs more than the rest of the mark.
    var journalBeginLine: [UInt8] {
        var fields = [#""operation":"\#(operation.rawValue)""#, #""requestID":"# + JSONValue.literal(requestID),
                      #""apiKey":"# + JSONValue.literal(apiKey), #""spooledAt":\#(spooledAt)"#]
        if let usage {
            fields.append(#""usage":{"input_tokens":\#(usage.input),"cached_input_tokens":\#(usage.cachedInput),"#
                          + #""cache_write_tokens":\#(usage.cacheWrite),"output_tokens":\#(usage.output),"reasoning_tokens":\#(usage.reasoning)}"#)
        }
        if let format { fields.append(#""format":"\#(format.rawValue)""#) }
        for (name, value) in [("model", model), ("provider", provider), ("priceVersion", priceVersion), ("user", user),
                              ("feature", feature), ("session", session), ("experiment", experiment)] {
            if let value { fields.append("\"\(name)\":" + JSONValue.literal(value)) }
        }
        if let prices { fields.append(#""prices":["# + prices.map { String($0) }.joined(separator: ",") + "]") }
        if let latencyMillis { fields.append(#""latencyMillis":\#(latencyMillis)"#) }
        if let cacheHit { fields.append(#""cacheHit":\#(cacheHit)"#) }
        return Array(("b {" + fields.joined(separator: ",") + "}\n").utf8)
    }

    /// The entry of a journal's `b ` line.
    init(journalBegin line: some Collection<UInt8>) throws {
        self = try JSONDecoder().decode(SpoolEntry.self, from: Data(line.dropFirst(2)))
    }
}
