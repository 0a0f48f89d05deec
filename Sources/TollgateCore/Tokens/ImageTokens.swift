import Foundation

/// Image input tokens as providers publish them (Docs/tokens.md).
enum ImageTokens {
    /// OpenAI's tile rule: `low` is the base cost; `high` (and `auto`) scales the image to fit
    /// 2048×2048, then its shorter side to 768, and adds a tile cost per 512-px tile. Without
    /// the size (a URL the gateway does not fetch), the largest possible tiling is assumed.
    static func openAI(detail: String, size: (width: Int, height: Int)?, family: ModelFamily) -> (tokens: Int, exact: Bool) {
        if detail == "low" { return (family.imageBase, true) }
        guard var (width, height) = size.map({ (Double($0.width), Double($0.height)) }), width > 0, height > 0 else {
            return (family.imageBase + family.imageTile * 8, false)  // 768 × 2048: 2 × 4 tiles
        }
        if max(width, height) > 2048 {
            let scale = 2048 / max(width, height)
            width = (width * scale).rounded(.down)
            height = (height * scale).rounded(.down)
        }
        if min(width, height) > 768 {
            let scale = 768 / min(width, height)
            width = (width * scale).rounded(.down)
            height = (height * scale).rounded(.down)
        }
        let tiles = Int((width / 512).rounded(.up) * (height / 512).rounded(.up))
        return (family.imageBase + family.imageTile * tiles, true)
    }

    /// Anthropic's published approximation, width × height / 750, after scaling the long edge
    /// to at most 1568 px; 1,600 when the size is unknown.
    static func anthropic(size: (width: Int, height: Int)?) -> Int {
        guard var (width, height) = size.map({ (Double($0.width), Double($0.height)) }), width > 0, height > 0 else { return 1600 }
        if max(width, height) > 1568 {
            let scale = 1568 / max(width, height)
            width *= scale
            height *= scale
        }
        return Int((width * height / 750).rounded(.up))
    }

    /// The size of a PNG or GIF in a `data:image/...;base64,` URL.
    static func size(ofDataURL url: String) -> (width: Int, height: Int)? {
        guard url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") else { return nil }
        return size(ofBase64: String(url[url.index(after: comma)...]))
    }

    /// The size of a base64-encoded PNG or GIF, from its header.
    static func size(ofBase64 text: String) -> (width: Int, height: Int)? {
        guard let header = Data(base64Encoded: String(text.prefix(44)) + String(repeating: "=", count: (4 - min(text.count, 44) % 4) % 4))
                ?? Data(base64Encoded: String(text.prefix(32))) else { return nil }
        let bytes = [UInt8](header)
        func bigEndian(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        if bytes.count >= 24, bytes[0..<8] == [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] {
            return (bigEndian(16), bigEndian(20))
        }
        if bytes.count >= 10, bytes[0..<3] == [0x47, 0x49, 0x46] {
            return (Int(bytes[6]) | Int(bytes[7]) << 8, Int(bytes[8]) | Int(bytes[9]) << 8)
        }
        return nil
    }
}
