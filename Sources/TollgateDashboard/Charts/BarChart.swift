/// A bar chart drawn on the server as SVG: no script, no external assets. Each bar carries
/// its exact value in a `<title>` (shown on hover) and the axis shows the largest value.
struct BarChart: Sendable {
    var title: String
    /// (label, value, shown value).
    var bars: [(label: String, value: Int64, text: String)]
    var width = 720
    var height = 180

    var svg: String {
        let left = 8, bottom = 28, top = 22
        let plotHeight = height - bottom - top
        let maximum = max(1, bars.map(\.value).max() ?? 1)
        let slot = bars.isEmpty ? 0 : Double(width - left * 2) / Double(bars.count)
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">"
        out += "<title>\(HTML.escape(title))</title>"
        out += "<text x=\"\(left)\" y=\"14\" font-size=\"12\" fill=\"#1d2330\">\(HTML.escape(title)) (largest: \(HTML.escape(bars.max { $0.value < $1.value }?.text ?? "0")))</text>"
        out += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - left)\" y2=\"\(height - bottom)\" stroke=\"#8a93a3\"/>"
        let labelEvery = max(1, bars.count / 12)
        for (index, bar) in bars.enumerated() {
            let barHeight = Int((Double(bar.value) / Double(maximum)) * Double(plotHeight))
            let x = Double(left) + Double(index) * slot + slot * 0.1
            out += "<rect x=\"\(Int(x))\" y=\"\(height - bottom - barHeight)\" width=\"\(max(1, Int(slot * 0.8)))\" height=\"\(barHeight)\" fill=\"#3d6fd1\">"
            out += "<title>\(HTML.escape(bar.label)): \(HTML.escape(bar.text))</title></rect>"
            if index % labelEvery == 0 {
                out += "<text x=\"\(Int(x))\" y=\"\(height - bottom + 14)\" font-size=\"10\" fill=\"#5a6272\">\(HTML.escape(bar.label))</text>"
            }
        }
        return out + "</svg>"
    }
}
