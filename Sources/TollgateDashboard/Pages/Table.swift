/// One table of a page. The HTML table and its CSV download are rendered from the same
/// rows, so the CSV holds exactly what the page shows.
struct Table: Sendable {
    struct Cell: Sendable {
        var text: String
        var link: String?
        var numeric: Bool

        init(_ text: String, link: String? = nil, numeric: Bool = false) {
            self.text = text
            self.link = link
            self.numeric = numeric
        }

        static func number(_ value: Int64) -> Cell { Cell(String(value), numeric: true) }
        static func money(_ text: String) -> Cell { Cell(text, numeric: true) }
    }

    var id: String
    var title: String
    var columns: [String]
    var rows: [[Cell]]
    /// Shown under the title (what the rows are, and where they come from).
    var note: String = ""
    /// Shown in place of rows when there are none.
    var empty: String = "no usage in this range"

    func html(csvLink: String) -> String {
        var out = "<section id=\"\(id)\"><h2>\(HTML.escape(title))</h2>"
        if !note.isEmpty { out += "<p class=\"note\">\(HTML.escape(note))</p>" }
        out += "<p class=\"csv\"><a class=\"csv-link\" data-table=\"\(id)\" href=\"\(HTML.escape(csvLink))\">Download CSV (\(rows.count) \(rows.count == 1 ? "row" : "rows"))</a></p>"
        out += "<table class=\"data\" data-table=\"\(id)\"><thead><tr>"
        for column in columns { out += "<th>\(HTML.escape(column))</th>" }
        out += "</tr></thead><tbody>"
        if rows.isEmpty { out += "<tr class=\"empty\"><td colspan=\"\(columns.count)\">\(HTML.escape(empty))</td></tr>" }
        for row in rows {
            out += "<tr>"
            for cell in row {
                let text = HTML.escape(cell.text)
                let content = cell.link.map { "<a href=\"\(HTML.escape($0))\">\(text)</a>" } ?? text
                out += cell.numeric ? "<td class=\"num\">\(content)</td>" : "<td>\(content)</td>"
            }
            out += "</tr>"
        }
        return out + "</tbody></table></section>"
    }

    var csv: String {
        var out = columns.map(HTML.csvField).joined(separator: ",") + "\r\n"
        for row in rows { out += row.map { HTML.csvField($0.text) }.joined(separator: ",") + "\r\n" }
        return out
    }
}
