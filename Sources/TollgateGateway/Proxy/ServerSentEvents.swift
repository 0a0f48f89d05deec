/// Splits a server-sent-event byte stream into whole events as the bytes arrive, so each
/// event can be relayed the moment it is complete (and one can be held back) without
/// buffering the stream.
struct ServerSentEventScanner {
    private var pending: [UInt8] = []
    /// Where the search for the next boundary resumes.
    private var searchFrom = 0

    /// Bytes of an incomplete event still held.
    var pendingCount: Int { pending.count }

    /// Appends `bytes` and returns every event now complete, each with its terminating
    /// blank line (`\n\n` or `\r\n\r\n`).
    mutating func append(_ bytes: some Collection<UInt8>) -> [[UInt8]] {
        pending.append(contentsOf: bytes)
        var events: [[UInt8]] = []
        var start = 0
        var index = max(searchFrom, 1)
        while index < pending.count {
            if pending[index] == 0x0A {
                var end: Int?
                if pending[index - 1] == 0x0A {
                    end = index + 1
                } else if index >= 3, pending[index - 1] == 0x0D, pending[index - 2] == 0x0A, pending[index - 3] == 0x0D {
                    end = index + 1
                }
                if let end, end - start > 0 {
                    events.append(Array(pending[start..<end]))
                    start = end
                    index = end + 1
                    continue
                }
            }
            index += 1
        }
        if start > 0 { pending.removeFirst(start) }
        searchFrom = max(0, pending.count - 3)
        return events
    }

    /// Whatever is left when the stream ends (an unterminated last event).
    mutating func finish() -> [UInt8] {
        defer { pending = []; searchFrom = 0 }
        return pending
    }

    /// The `data:` lines of an event, joined by newlines; nil for an event without data.
    static func data(of event: [UInt8]) -> [UInt8]? {
        var result: [UInt8]?
        var lineStart = 0
        for index in 0...event.count where index == event.count || event[index] == 0x0A {
            var line = event[lineStart..<index]
            lineStart = index + 1
            if line.last == 0x0D { line = line.dropLast() }
            guard line.starts(with: Array("data:".utf8)) else { continue }
            var value = line.dropFirst(5)
            if value.first == 0x20 { value = value.dropFirst() }
            if result == nil { result = Array(value) } else { result! += [0x0A] + value }
        }
        return result
    }
}
