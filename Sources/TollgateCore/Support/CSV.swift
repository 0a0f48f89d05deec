/// RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF. One reader for every CSV the
/// product takes in (price imports) and for the tests that read what it writes.
public enum CSV {
    /// A file that ends inside a quoted field.
    public struct UnterminatedQuoteError: Error, Sendable {}

    public static func parse(_ text: String) throws -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = text.makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.isEmpty: quoted = true
            case ",": row.append(field); field = ""
            case "\n", "\r\n":
                row.append(field); rows.append(row); row = []; field = ""
            case "\r": continue
            default: field.append(character)
            }
        }
        if quoted { throw UnterminatedQuoteError() }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
