import Foundation
import TollgateCore

public enum OutputFormat: Sendable { case table, json, csv }

/// Rows printed as an aligned table (default), a JSON array of objects, or CSV.
struct Output {
    let format: OutputFormat
    private var pending: [String] = []

    init(format: OutputFormat) { self.format = format }

    /// Prints rows under `columns` (each row maps column → value; missing means empty).
    mutating func table(_ columns: [String], _ rows: [[String: String]]) {
        switch format {
        case .table:
            guard !rows.isEmpty else {
                pending.append("(none)")
                return
            }
            let widths = columns.map { column in max(column.count, rows.map { ($0[column] ?? "").count }.max() ?? 0) }
            pending.append(zip(columns, widths).map { $0.0.uppercased().padding(toLength: $0.1, withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingTrailing)
            for row in rows {
                pending.append(zip(columns, widths).map { ($0.0 == columns.last ? row[$0.0] ?? "" : (row[$0.0] ?? "").padding(toLength: $0.1, withPad: " ", startingAt: 0)) }
                    .joined(separator: "  ").trimmingTrailing)
            }
        case .csv:
            pending.append(columns.map(Self.csvField).joined(separator: ","))
            for row in rows { pending.append(columns.map { Self.csvField(row[$0] ?? "") }.joined(separator: ",")) }
        case .json:
            let objects = rows.map { row in
                "{" + columns.compactMap { column in row[column].map { "\(Self.jsonString(column)):\(Self.jsonValue($0))" } }.joined(separator: ",") + "}"
            }
            pending.append("[" + objects.joined(separator: ",\n ") + "]")
        }
    }

    /// One record as key/value lines (table), an object (JSON) or a two-row CSV.
    mutating func record(_ fields: [(String, String)]) {
        switch format {
        case .table:
            let width = fields.map(\.0.count).max() ?? 0
            for (key, value) in fields { pending.append(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value) }
        case .csv:
            pending.append(fields.map { Self.csvField($0.0) }.joined(separator: ","))
            pending.append(fields.map { Self.csvField($0.1) }.joined(separator: ","))
        case .json:
            pending.append("{" + fields.map { "\(Self.jsonString($0.0)):\(Self.jsonValue($0.1))" }.joined(separator: ",") + "}")
        }
    }

    /// A line of text, printed as is in every format.
    mutating func line(_ text: String) { pending.append(text) }

    mutating func flush() {
        guard !pending.isEmpty else { return }
        FileHandle.standardOutput.write(Data((pending.joined(separator: "\n") + "\n").utf8))
        pending.removeAll()
    }

    static func csvField(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Numbers stay numbers, the rest are strings (amounts are exact decimal strings).
    static func jsonValue(_ value: String) -> String {
        if let number = Int64(value), String(number) == value { return value }
        if value == "true" || value == "false" { return value }
        return jsonString(value)
    }

    static func jsonString(_ value: String) -> String { JSONValue.literal(value) }
}

extension String {
    var trimmingTrailing: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
