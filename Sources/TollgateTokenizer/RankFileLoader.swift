import CZlib
import Crypto
import Foundation

/// Reads a shipped rank file: inflate the gzip resource, check tiktoken's published SHA-256
/// of the uncompressed content, and parse its `base64-token rank` lines into a ``RankTable``.
enum RankFileLoader {
    static func load(_ encoding: Encoding) throws -> RankTable {
        guard let url = Bundle.module.url(
            forResource: "\(encoding.name).tiktoken", withExtension: "gz", subdirectory: "Resources")
            ?? Bundle.module.url(forResource: "\(encoding.name).tiktoken", withExtension: "gz")
        else {
            throw TokenizerError(.missingResource, "\(encoding.name).tiktoken.gz is not in the bundle")
        }
        let compressed = try [UInt8](Data(contentsOf: url))
        let contents = try gunzip(compressed, name: encoding.name)
        let digest = SHA256.hash(data: contents).map { String(format: "%02x", $0) }.joined()
        guard digest == encoding.sha256 else {
            throw TokenizerError(
                .hashMismatch, "\(encoding.name).tiktoken has SHA-256 \(digest), expected \(encoding.sha256)")
        }
        return try parse(contents, name: encoding.name)
    }

    /// The uncompressed bytes of a gzip member, sized by its trailer (ISIZE).
    static func gunzip(_ compressed: [UInt8], name: String) throws -> [UInt8] {
        guard compressed.count > 18 else { throw TokenizerError(.corruptResource, "\(name): not a gzip file") }
        let tail = compressed.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
        var output = [UInt8](repeating: 0, count: tail)
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw TokenizerError(.corruptResource, "\(name): zlib could not start")
        }
        defer { inflateEnd(&stream) }
        let status = compressed.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = UInt32(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                return inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == tail else {
            throw TokenizerError(.corruptResource, "\(name): inflate failed (status \(status))")
        }
        return output
    }

    /// Parses `base64 rank\n` lines; tiktoken's files list ranks 0, 1, 2, ... in order.
    static func parse(_ contents: [UInt8], name: String) throws -> RankTable {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(contents.count / 2)
        var offsets: [UInt32] = [0]
        var lineStart = 0
        while lineStart < contents.count {
            var space = lineStart
            while space < contents.count, contents[space] != UInt8(ascii: " ") { space += 1 }
            var end = space
            while end < contents.count, contents[end] != UInt8(ascii: "\n") { end += 1 }
            var rank = 0
            for digit in contents[min(space + 1, end)..<end] {
                guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else {
                    throw TokenizerError(.corruptResource, "\(name): bad rank on line \(offsets.count)")
                }
                rank = rank * 10 + Int(digit - UInt8(ascii: "0"))
            }
            guard space < end, rank == offsets.count - 1,
                  decodeBase64(contents[lineStart..<space], into: &bytes) else {
                throw TokenizerError(.corruptResource, "\(name): bad entry on line \(offsets.count)")
            }
            offsets.append(UInt32(bytes.count))
            lineStart = end + 1
        }
        guard offsets.count > 256 else { throw TokenizerError(.corruptResource, "\(name): too few tokens") }
        return RankTable(bytes: bytes, offsets: offsets)
    }

    private static let base64Values: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (value, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }()

    /// Appends the decoded bytes of standard padded base64; false if it is not.
    private static func decodeBase64(_ text: ArraySlice<UInt8>, into output: inout [UInt8]) -> Bool {
        var accumulator: UInt32 = 0, bits = 0
        for character in text {
            if character == UInt8(ascii: "=") { break }
            let value = base64Values[Int(character)]
            guard value != 0xff else { return false }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return true
    }
}
