/// An image's size in pixels, read from the header of its encoded bytes (PNG, GIF, JPEG,
/// WebP) inside base64 text, without decoding the rest: bytes are decoded on demand from their
/// base64 group, so a JPEG whose frame header follows large EXIF or ICC segments is sized by
/// reading a few bytes per segment. Data that is short, corrupt or of another format gives nil.
struct ImageSize: Equatable, Sendable {
    let width: Int
    let height: Int

    /// The size of the image in a `data:image/...;base64,` URL.
    init?(dataURL url: String) {
        guard url.hasPrefix("data:"), let comma = url.utf8.firstIndex(of: UInt8(ascii: ",")) else { return nil }
        self.init(base64: Substring(url.utf8[url.utf8.index(after: comma)...]))
    }

    /// The size of the base64-encoded image `text`.
    init?(base64 text: some StringProtocol) {
        let size = text.utf8.withContiguousStorageIfAvailable { ImageSize.read(Base64Bytes(text: $0)) }
            ?? Array(text.utf8).withUnsafeBufferPointer { ImageSize.read(Base64Bytes(text: $0)) }
        guard let size else { return nil }
        self = size
    }

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    private static func read(_ bytes: Base64Bytes) -> ImageSize? {
        let size = png(bytes) ?? gif(bytes) ?? jpeg(bytes) ?? webP(bytes)
        guard let size, size.width > 0, size.height > 0 else { return nil }
        return size
    }

    /// PNG: the signature, then the IHDR chunk's big-endian width and height.
    private static func png(_ bytes: Base64Bytes) -> ImageSize? {
        guard bytes.matches([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], at: 0), bytes.matches(Array("IHDR".utf8), at: 12),
              let width = bytes.bigEndian(at: 16, count: 4), let height = bytes.bigEndian(at: 20, count: 4) else { return nil }
        return ImageSize(width: width, height: height)
    }

    /// GIF: the logical screen's little-endian width and height.
    private static func gif(_ bytes: Base64Bytes) -> ImageSize? {
        guard bytes.matches(Array("GIF8".utf8), at: 0),
              let width = bytes.littleEndian(at: 6, count: 2), let height = bytes.littleEndian(at: 8, count: 2) else { return nil }
        return ImageSize(width: width, height: height)
    }

    /// JPEG: walk the marker segments after SOI to the first start-of-frame (SOF0–SOF15 but
    /// DHT, JPG and DAC), whose big-endian height and width follow the sample precision.
    private static func jpeg(_ bytes: Base64Bytes) -> ImageSize? {
        guard bytes.matches([0xff, 0xd8], at: 0) else { return nil }
        var offset = 2
        for _ in 0..<4096 {  // a real file has a few dozen segments before its frame
            guard bytes[offset] == 0xff else { return nil }
            while bytes[offset] == 0xff { offset += 1 }  // fill bytes
            guard let marker = bytes[offset] else { return nil }
            offset += 1
            if marker == 0x01 || marker == 0xd8 || (0xd0...0xd7).contains(marker) { continue }  // no length
            guard marker != 0xd9, marker != 0xda, let length = bytes.bigEndian(at: offset, count: 2), length >= 2 else { return nil }
            if (0xc0...0xcf).contains(marker), marker != 0xc4, marker != 0xc8, marker != 0xcc {
                guard let height = bytes.bigEndian(at: offset + 3, count: 2), let width = bytes.bigEndian(at: offset + 5, count: 2) else { return nil }
                return ImageSize(width: width, height: height)
            }
            offset += length
        }
        return nil
    }

    /// WebP: a RIFF container whose first chunk is `VP8 ` (lossy: the key frame's 14-bit
    /// sizes), `VP8L` (lossless: 14-bit sizes minus one) or `VP8X` (extended: the canvas's
    /// 24-bit sizes minus one).
    private static func webP(_ bytes: Base64Bytes) -> ImageSize? {
        guard bytes.matches(Array("RIFF".utf8), at: 0), bytes.matches(Array("WEBP".utf8), at: 8) else { return nil }
        if bytes.matches(Array("VP8 ".utf8), at: 12), bytes.matches([0x9d, 0x01, 0x2a], at: 23),
           let width = bytes.littleEndian(at: 26, count: 2), let height = bytes.littleEndian(at: 28, count: 2) {
            return ImageSize(width: width & 0x3fff, height: height & 0x3fff)
        }
        if bytes.matches(Array("VP8L".utf8), at: 12), bytes[20] == 0x2f, let bits = bytes.littleEndian(at: 21, count: 4) {
            return ImageSize(width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1)
        }
        if bytes.matches(Array("VP8X".utf8), at: 12),
           let width = bytes.littleEndian(at: 24, count: 3), let height = bytes.littleEndian(at: 27, count: 3) {
            return ImageSize(width: width + 1, height: height + 1)
        }
        return nil
    }
}

/// The bytes that standard base64 text (padded or not) encodes, decoded one at a time: byte
/// `i` comes from characters `i / 3 * 4 + i % 3` and the one after it. Past the end, or where
/// a character is not base64, a byte is nil.
private struct Base64Bytes {
    let text: UnsafeBufferPointer<UInt8>

    subscript(index: Int) -> UInt8? {
        guard index >= 0 else { return nil }
        let character = index / 3 * 4 + index % 3
        guard character + 1 < text.count,
              let high = Self.value(text[character]), let low = Self.value(text[character + 1]) else { return nil }
        switch index % 3 {
        case 0: return high << 2 | low >> 4
        case 1: return high << 4 | low >> 2
        default: return high << 6 | low
        }
    }

    func matches(_ expected: [UInt8], at offset: Int) -> Bool {
        expected.indices.allSatisfy { self[offset + $0] == expected[$0] }
    }

    func bigEndian(at offset: Int, count: Int) -> Int? {
        var value = 0
        for index in offset..<(offset + count) {
            guard let byte = self[index] else { return nil }
            value = value << 8 | Int(byte)
        }
        return value
    }

    func littleEndian(at offset: Int, count: Int) -> Int? {
        var value = 0
        for index in (offset..<(offset + count)).reversed() {
            guard let byte = self[index] else { return nil }
            value = value << 8 | Int(byte)
        }
        return value
    }

    private static func value(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
