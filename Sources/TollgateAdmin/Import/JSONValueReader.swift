import Foundation

/// Reads a file of JSON objects one after the other (a document, then one object a line, as
/// `config export --stream` writes), one object at a time in 64 KiB reads: memory is the
/// largest object, not the file. It only finds where each object ends (braces outside
/// strings); decoding it is the caller's.
struct JSONValueReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    /// The line the next object starts on (1-based).
    private(set) var line = 1

    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw AdminError.invalid("cannot read '\(path)'") }
        self.handle = handle
    }

    /// The next object's bytes and the line it starts on; nil at the end of the file.
    mutating func next() throws -> (bytes: [UInt8], line: Int)? {
        // Skip whitespace between objects.
        while true {
            guard let byte = try peek() else { return nil }
            guard byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D else { break }
            if byte == 0x0A { line += 1 }
            position += 1
        }
        let start = line
        guard try peek() == UInt8(ascii: "{") else { throw Malformed(line: start, message: "expected a JSON object") }
        var value: [UInt8] = []
        var depth = 0
        var inString = false
        var escaped = false
        while let byte = try peek() {
            position += 1
            value.append(byte)
            if byte == 0x0A { line += 1 }
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return (value, start) }
            default: break
            }
        }
        throw Malformed(line: start, message: "the object starting here is not complete at the end of the file")
    }

    struct Malformed: Error {
        var line: Int
        var message: String
    }

    private mutating func peek() throws -> UInt8? {
        if position == buffer.count {
            guard !atEnd else { return nil }
            let chunk = try handle.read(upToCount: 1 << 16) ?? Data()
            if chunk.isEmpty {
                atEnd = true
                return nil
            }
            buffer = Array(chunk)
            position = 0
        }
        return buffer[position]
    }
}
