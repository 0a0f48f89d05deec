/// Image input tokens as providers publish them (Docs/tokens.md).
enum ImageTokens {
    /// OpenAI's tile rule: `low` is the base cost; `high` (and `auto`) scales the image to fit
    /// 2048×2048, then its shorter side to 768, and adds a tile cost per 512-px tile. Without
    /// the size (a URL the gateway does not fetch), the largest possible tiling is assumed.
    static func openAI(detail: String, size: ImageSize?, family: ModelFamily) -> (tokens: Int, exact: Bool) {
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
    static func anthropic(size: ImageSize?) -> Int {
        guard var (width, height) = size.map({ (Double($0.width), Double($0.height)) }), width > 0, height > 0 else { return 1600 }
        if max(width, height) > 1568 {
            let scale = 1568 / max(width, height)
            width *= scale
            height *= scale
        }
        return Int((width * height / 750).rounded(.up))
    }
}
