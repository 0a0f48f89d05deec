import Foundation
import Hummingbird
import HummingbirdTesting
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateDashboard

/// The pages through the router, against a real Redis the monitor rolled up.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"))
struct DashboardPageTests {
    /// The text of the element with `id` (the first `>…<` after it).
    static func element(_ html: String, id: String) -> String? {
        guard let start = html.range(of: "id=\"\(id)\"") else { return nil }
        let rest = html[start.upperBound...]
        guard let open = rest.firstIndex(of: ">"), let close = rest[open...].firstIndex(of: "<") else { return nil }
        return String(rest[rest.index(after: open)..<close])
    }

    /// The body rows of a table, cell texts (tags stripped).
    static func rows(_ html: String, table: String) -> [[String]] {
        guard let start = html.range(of: "<table class=\"data\" data-table=\"\(table)\">"),
              let body = html[start.upperBound...].range(of: "<tbody>"),
              let end = html[body.upperBound...].range(of: "</tbody>") else { return [] }
        let tbody = String(html[body.upperBound..<end.lowerBound])
        return tbody.components(separatedBy: "<tr>").dropFirst().map { row in
            row.components(separatedBy: "<td").dropFirst().map { cell in
                var text = String(cell[cell.index(after: cell.firstIndex(of: ">")!)...])
                while let tag = text.range(of: "<[^>]*>", options: .regularExpression) { text.removeSubrange(tag) }
                return text.replacingOccurrences(of: "&amp;", with: "&")
            }
        }
    }

    @Test func pageTotalsAreTheRolledUpLedger() async throws {
        let fixture = try await DashboardFixture.make()
        let acme = try await fixture.record("a1", key: "k1", input: 1_000, user: "alice", feature: "chat", experiment: "a")
            + fixture.record("a2", key: "k1", input: 3_001, output: 7, user: "alice", feature: "chat", experiment: "b")
            + fixture.record("a3", key: "k1", input: 2_000, output: 500, user: "bob", feature: "search")
        let globex = try await fixture.record("g1", key: "g1", input: 10_000, user: "carol")
            + fixture.reserveAndCommit("g2", key: "g1", estimate: 999, input: 500, latency: 40, cacheHit: true)
            + fixture.reserveAndCommit("g3", key: "g1", estimate: 1_000, input: 1_500, latency: 300, cacheHit: false)
            + fixture.reserveAndCommit("g4", key: "g1", estimate: 1, input: 1, latency: 700)
        try await fixture.rollUp()
        let currency = fixture.configuration.settings.currency
        try await fixture.test { client in
            try await client.execute(uri: "/", method: .get, headers: DashboardFixture.headers(DashboardFixture.operatorSecret)) { response in
                #expect(response.status == .ok)
                let html = response.text
                #expect(Self.element(html, id: "total-cost") == Money(nanos: acme + globex, currency: currency).decimalString)
                #expect(Self.element(html, id: "total-requests") == "7")
                let organizations = Self.rows(html, table: "organizations")
                #expect(organizations.map { $0[0] } == ["globex", "acme"], "highest cost first")
                // globex: 1 of 2 reported cache hits; estimates (999 + 1) + (1,000 + 1) + (1 + 1) reserved over 500 + 1,500 + 1 used.
                #expect(organizations.first?[13] == "50%" && organizations.first?[14] == "\(Int64(2_003) * 100 / 2_001)%")
                #expect(Self.rows(html, table: "models").first?[5...6] == ["≤ 500 ms", "≤ 1000 ms"])
                #expect(organizations.map { $0[5] } == [Money(nanos: globex, currency: currency).decimalString, Money(nanos: acme, currency: currency).decimalString])
                #expect(html.contains("<svg") && !html.contains("http://cdn") && !html.contains("<script"))
                #expect(Self.rows(html, table: "users").map { $0[0...1] } == [["globex", "carol"], ["acme", "alice"], ["acme", "bob"], ["globex", "(none)"]])
            }
            try await client.execute(uri: "/org/acme", method: .get, headers: DashboardFixture.headers(DashboardFixture.acmeSecret)) { response in
                #expect(response.status == .ok)
                let html = response.text
                #expect(Self.element(html, id: "total-cost") == Money(nanos: acme, currency: currency).decimalString)
                #expect(html.contains("Reporting timezone: <strong>UTC</strong>"))
                let experiments = Self.rows(html, table: "experiments")
                #expect(Set(experiments.map { $0[0] }) == ["a", "b", "(none)"])
                #expect(experiments.first { $0[0] == "b" }?[1] == "1")
                let budgets = Self.rows(html, table: "budgets")
                #expect(budgets.first?[0] == "organization" && budgets.first?[7] == Money(nanos: acme, currency: currency).decimalString)
            }
            try await client.execute(uri: "/org/globex", method: .get, headers: DashboardFixture.headers(DashboardFixture.operatorSecret)) { response in
                #expect(response.text.contains("Reporting timezone: <strong>Europe/Berlin</strong>"))
                #expect(Self.element(response.text, id: "total-cost") == Money(nanos: globex, currency: currency).decimalString)
            }
            try await client.execute(uri: "/model/test-model?org=acme", method: .get, headers: DashboardFixture.headers(DashboardFixture.acmeSecret)) { response in
                #expect(response.status == .ok)
                #expect(Self.element(response.text, id: "total-cost") == Money(nanos: acme, currency: currency).decimalString)
                #expect(Self.rows(response.text, table: "kinds").first == ["input", "6001", "2000", "92%"])
                #expect(Self.element(response.text, id: "latency-p50") == "-")
            }
            // Every organisation: read from the partitions' model roll-ups, not per organisation.
            try await client.execute(uri: "/model/test-model", method: .get, headers: DashboardFixture.headers(DashboardFixture.operatorSecret)) { response in
                #expect(Self.element(response.text, id: "total-cost") == Money(nanos: acme + globex, currency: currency).decimalString)
                #expect(Self.element(response.text, id: "total-requests") == "7")
                // 1,000 + 3,001 + 2,000 + 10,000 + 500 + 1,500 + 1 input tokens over 7 requests, of 18,509 tokens.
                #expect(Self.rows(response.text, table: "kinds").first == ["input", "18002", "2571", "97%"])
                #expect(Self.element(response.text, id: "latency-p50") == "≤ 500 ms")
                #expect(Self.rows(response.text, table: "latency") == [["0–50 ms", "1"], ["250–500 ms", "1"], ["500–1000 ms", "1"]])
                #expect(Self.rows(response.text, table: "days").map { $0[1] } == ["7"])
                #expect(!response.text.contains("data-table=\"organizations\""), "no per-organisation table without org=")
            }
        }
        try await fixture.cleanUp()
    }

    @Test func everyCSVHoldsExactlyTheRowsOfItsTable() async throws {
        let fixture = try await DashboardFixture.make()
        for index in 0..<12 { try await fixture.record("r\(index)", key: "k1", input: Int64(100 * (index + 1)), user: "user, \(index % 5)", feature: "f\"\(index % 3)") }
        try await fixture.rollUp()
        try await fixture.test { client in
            for page in ["/", "/org/acme", "/model/test-model"] {
                let html = try await client.execute(uri: page, method: .get, headers: DashboardFixture.headers(DashboardFixture.operatorSecret)) { $0.text }
                let tables = html.components(separatedBy: "<table class=\"data\" data-table=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
                #expect(tables.count >= 3, "\(page)")
                for table in tables {
                    let shown = Self.rows(html, table: table).filter { $0.count > 1 || !($0.first ?? "").hasPrefix("no ") }
                    let separator = page.contains("?") ? "&" : "?"
                    let csv = try await client.execute(uri: "\(page)\(separator)csv=\(table)", method: .get,
                                                       headers: DashboardFixture.headers(DashboardFixture.operatorSecret)) { response in
                        #expect(response.headers[.contentType]?.hasPrefix("text/csv") == true)
                        return response.text
                    }
                    #expect(try CSV.parse(csv).dropFirst().map { $0 } == shown.map { $0.map { $0.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'") } },
                            "\(page) \(table)")
                }
            }
        }
        try await fixture.cleanUp()
    }

    @Test func accessIsByTokenAndScope() async throws {
        let fixture = try await DashboardFixture.make()
        try await fixture.test { client in
            let cases: [(String, String?, HTTPResponse.Status)] = [
                ("/", nil, .unauthorized), ("/", "tgd_wrong", .unauthorized), ("/", DashboardFixture.revokedSecret, .unauthorized),
                ("/org/globex", DashboardFixture.acmeSecret, .forbidden), ("/model/test-model?org=globex", DashboardFixture.acmeSecret, .forbidden),
                ("/org/acme", DashboardFixture.acmeSecret, .ok), ("/", DashboardFixture.acmeSecret, .seeOther),
                ("/org/globex", DashboardFixture.operatorSecret, .ok), ("/live", DashboardFixture.acmeSecret, .ok),
            ]
            for (uri, secret, status) in cases {
                try await client.execute(uri: uri, method: .get, headers: DashboardFixture.headers(secret)) { response in
                    #expect(response.status == status, "\(uri) with \(secret ?? "no token")")
                    if status.code >= 400 { #expect(response.headers[.contentType]?.hasPrefix("text/html") == true) }
                }
            }
            // Signing in with the form sets the cookie every later page reads.
            let cookie = try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                  body: ByteBuffer(string: "token=\(DashboardFixture.acmeSecret)")) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/org/acme")
                return response.headers[.setCookie].map { String($0.prefix { $0 != ";" }) } ?? ""
            }
            try await client.execute(uri: "/org/acme", method: .get, headers: [.cookie: cookie]) { #expect($0.status == .ok) }
            try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                     body: ByteBuffer(string: "token=nope")) { #expect($0.status == .unauthorized) }
        }
        try await fixture.cleanUp()
    }

    @Test func badInputGetsAClear4xxPage() async throws {
        let fixture = try await DashboardFixture.make()
        try await fixture.test { client in
            let cases: [(String, HTTPResponse.Status, String)] = [
                ("/org/nosuch", .notFound, "there is no organization"),
                ("/org/acme?from=2026-05-10&to=2026-05-01", .badRequest, "before it starts"),
                ("/org/acme?from=2016-01-01&to=2025-12-31", .badRequest, "at most 400 days"),
                ("/org/acme?tz=Mars/Olympus", .badRequest, "is not a timezone"),
                ("/org/acme?tz=Europe/Berlin", .badRequest, "kept in UTC days"),
                ("/org/acme?from=2026-02-30", .badRequest, "is not a date"),
                ("/org/acme?from=yesterday", .badRequest, "is not a date"),
                ("/org/acme?csv=nosuch", .notFound, "no table"),
                ("/model/nosuch-model", .notFound, "there is no model"),
                ("/nowhere", .notFound, "Not Found"),
            ]
            for (uri, status, message) in cases {
                try await client.execute(uri: uri, method: .get, headers: DashboardFixture.headers(DashboardFixture.operatorSecret)) { response in
                    #expect(response.status == status, "\(uri)")
                    #expect(response.text.contains(message), "\(uri): \(response.text.suffix(300))")
                }
            }
        }
        try await fixture.cleanUp()
    }
}
