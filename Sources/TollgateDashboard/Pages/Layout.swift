import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The frame of every page: navigation, the range form, inline styles (no external assets).
enum Layout {
    static let style = """
    body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
    header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
    header a{color:#cfe0ff;text-decoration:none}header strong{font-size:16px}
    main{padding:12px 20px;max-width:1400px}
    h1{font-size:20px;margin:8px 0}h2{font-size:16px;margin:18px 0 4px}
    form.range{background:#fff;border:1px solid #dde1e7;padding:8px;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
    .figures{display:flex;gap:14px;flex-wrap:wrap;margin:10px 0}
    .figure{background:#fff;border:1px solid #dde1e7;padding:8px 12px;min-width:150px}
    .figure .value{font-size:20px;font-weight:600}.figure a{color:inherit}
    table.data{border-collapse:collapse;background:#fff;font-size:13px}
    table.data th,table.data td{border:1px solid #dde1e7;padding:3px 8px;text-align:left}
    table.data td.num{text-align:right;font-variant-numeric:tabular-nums}
    .note,.csv{color:#5a6272;margin:2px 0;font-size:12px}.error{color:#a40000;font-weight:600}
    svg{background:#fff;border:1px solid #dde1e7}
    """

    static func page(title: String, access: Access?, body: String, range: ReportRange? = nil, rangePath: String = "", keep: [(String, String)] = [],
                     timezoneNote: String = "") -> String {
        var nav = ""
        switch access {
        case .operator?: nav = "<a href=\"/\">Overview</a><a href=\"/live\">Live</a>"
        case .customer(let organization)?: nav = "<a href=\"/org/\(HTML.query(organization))\">\(HTML.escape(organization))</a><a href=\"/live\">Live</a>"
        case nil: nav = ""
        }
        var out = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>\(HTML.escape(title)) · Tollgate</title>"
        out += "<style>\(style)</style></head><body><header><strong>Tollgate</strong>\(nav)</header><main><h1>\(HTML.escape(title))</h1>"
        if let range { out += rangeForm(range, path: rangePath, keep: keep, note: timezoneNote) }
        return out + body + "</main></body></html>"
    }

    static func rangeForm(_ range: ReportRange, path: String, keep: [(String, String)], note: String) -> String {
        let hidden = keep.map { "<input type=\"hidden\" name=\"\(HTML.escape($0.0))\" value=\"\(HTML.escape($0.1))\">" }.joined()
        return """
        <form class="range" method="get" action="\(HTML.escape(path))">\(hidden)\
        <label>From <input name="from" type="date" value="\(range.from)"></label>\
        <label>To <input name="to" type="date" value="\(range.to)"></label>\
        <label>Timezone <input name="tz" value="\(HTML.escape(range.timezone.name))" size="18"></label>\
        <button type="submit">Show</button>\
        <span class="note" id="reporting-timezone">Reporting timezone: <strong>\(HTML.escape(range.timezone.name))</strong>. \(HTML.escape(note))</span></form>
        """
    }

    static let loginForm = """
    <form method="post" action="/login"><label>Dashboard token <input name="token" type="password" size="50" autocomplete="off"></label> \
    <button type="submit">Sign in</button></form>
    """

    static func response(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static func csv(_ table: Table, filename: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(filename).csv\"",
                                        .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: table.csv)))
    }

    /// A headline figure that links to the table it is the total of.
    static func figure(_ label: String, _ value: String, id: String, link: String) -> String {
        "<div class=\"figure\"><div>\(HTML.escape(label))</div><div class=\"value\"><a id=\"\(id)\" href=\"\(HTML.escape(link))\">\(HTML.escape(value))</a></div></div>"
    }
}
