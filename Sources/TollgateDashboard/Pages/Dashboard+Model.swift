import Foundation
import Hummingbird
import TollgateCore

extension Dashboard {
    /// Model: cost and tokens by kind, cost per 1,000 requests, and who uses it. A customer
    /// sees its own organisation's use only; an operator all, or one with `org=`.
    func model(_ request: Request, name: String) async throws -> Response {
        let (configuration, access) = try authorize(request)
        var organizationFilter = request.uri.queryParameters.get("org").flatMap { $0.isEmpty ? nil : $0 }
        if case .customer(let own) = access { organizationFilter = organizationFilter ?? own }
        if let organizationFilter { try access.check(organizationFilter, in: configuration) }
        let zone = organizationFilter.flatMap { configuration.organizations[$0] }.map { timezone(of: $0, in: configuration) } ?? operatorTimezone(configuration)
        let range = try range(request, timezone: zone)
        // One organisation: its own day roll-ups. Every organisation: the partitions' model
        // roll-ups (partitions × days reads, however many organisations there are).
        let byDay: [String: UsageTotals], latency: LatencyHistogram?, byOrganization: [(String, UsageTotals)]?
        if let organizationFilter {
            let contents = try await store.contents([organizationFilter], period: .day, labels: range.dayLabels)
            let rows = contents.rows.filter { $0.dimensions.model == name }
            byDay = Dictionary(grouping: rows, by: \.label).mapValues(\.total)
            latency = contents.latencyByModel[name]
            byOrganization = rows.grouped(\.organization)
        } else {
            (byDay, latency) = try await OverviewStore(redis: redis, keys: keys).model(name, range)
            byOrganization = nil
        }
        guard !byDay.isEmpty || configuration.pricing.models[name.lowercased()] != nil else { throw DashboardError.notFound("there is no model '\(name.prefix(128))'") }
        var total = UsageTotals()
        for totals in byDay.values { total.add(totals) }
        let currency = configuration.settings.currency
        let path = "/model/\(HTML.query(name))"
        let usage = total.usage
        let kinds: [(String, Int64)] = [("input", usage.input), ("cached input", usage.cachedInput), ("cache write", usage.cacheWrite),
                                        ("output", usage.output), ("reasoning", usage.reasoning)]
        let kindsTable = Table(id: "kinds", title: "Tokens by kind", columns: ["kind", "tokens", "tokens per request", "share of tokens"],
                               rows: kinds.map { kind, tokens in
                                   [Table.Cell(kind), .number(tokens), .number(total.requests == 0 ? 0 : tokens / total.requests),
                                    Table.Cell(usage.total == 0 ? "0%" : "\(tokens * 100 / usage.total)%", numeric: true)]
                               })
        let organizationsTable = byOrganization.map { groups in
            Table(id: "organizations", title: "Organizations", columns: ["organization", "requests", "tokens", "cost", "cost per 1,000 requests"],
                  rows: groups.map { organization, totals in
                      [Table.Cell(organization, link: "/org/\(HTML.query(organization))?from=\(range.from)&to=\(range.to)"), .number(totals.requests),
                       .number(totals.usage.total), .money(money(totals.costNanos, configuration)),
                       .money(money(Self.perThousand(totals), configuration))]
                  })
        }
        let histogram = latency ?? LatencyHistogram()
        let latencyTable = Table(id: "latency", title: "Latency", columns: ["latency", "requests"],
                                 rows: histogram.counts.enumerated().compactMap { index, count in
                                     guard count > 0 else { return nil }
                                     let low = index == 0 ? 0 : LatencyHistogram.bounds[index - 1]
                                     let label = index < LatencyHistogram.bounds.count ? "\(low)–\(LatencyHistogram.bounds[index]) ms" : "> \(low) ms"
                                     return [Table.Cell(label), .number(count)]
                                 }, note: "Requests whose commit reported latency_ms, by bucket.")
        let daysTable = Table(id: "days", title: "Days", columns: ["day", "requests", "tokens", "cost"],
                              rows: zip(range.days, range.dayLabels).compactMap { day, label in
                                  guard let totals = byDay[label] else { return nil }
                                  return [Table.Cell(day), .number(totals.requests), .number(totals.usage.total), .money(money(totals.costNanos, configuration))]
                              })
        let parts = organizationsTable == nil ? "#days" : "#organizations"
        var head = "<div class=\"figures\">"
        head += Layout.figure("Cost in range (\(currency.code))", money(total.costNanos, configuration), id: "total-cost", link: parts)
        head += Layout.figure("Requests in range", String(total.requests), id: "total-requests", link: parts)
        head += Layout.figure("Cost per 1,000 requests", money(Self.perThousand(total), configuration), id: "cost-per-thousand", link: parts)
        head += Layout.figure("Latency p50", Self.latencyText(latency, 0.5), id: "latency-p50", link: "#latency")
        head += Layout.figure("Latency p95", Self.latencyText(latency, 0.95), id: "latency-p95", link: "#latency")
        head += "</div>"
        if let organizationFilter {
            head += "<p class=\"note\">Only organization \(HTML.escape(organizationFilter)).</p>"
        } else {
            head += "<p class=\"note\">Every organization, from the partitions' roll-ups. One organization's use of this model: its page's Models table, or add org=&lt;organization&gt;.</p>"
        }
        return try render(request, title: "Model \(name)", access: access, range: range, path: path,
                          timezoneNote: organizationFilter == nil ? "" : "The organization's tier timezone.", head: head,
                          keep: organizationFilter.map { [("org", $0)] } ?? [], tables: [kindsTable] + (organizationsTable.map { [$0] } ?? []) + [latencyTable, daysTable],
                          charts: ["days": BarChart(title: "Cost per day (\(currency.code))", bars: dailyBars(byDay, range, configuration)).svg])
    }
}
