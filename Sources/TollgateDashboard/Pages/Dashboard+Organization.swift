import Foundation
import Hummingbird
import TollgateCore
import TollgateRedis

extension Dashboard {
    /// Organisation: spend by day and hour, budgets used / held / remaining with their
    /// resets, and the workspaces, keys, models, users, features and experiments behind it.
    func organization(_ request: Request, id: String) async throws -> Response {
        let (configuration, access) = try authorize(request)
        try access.check(id, in: configuration)
        let organization = configuration.organizations[id]!
        let zone = timezone(of: organization, in: configuration)
        let range = try range(request, timezone: zone)
        let lastDay = range.dayLabels.last ?? ""
        // The four reads are independent: sent at once, they share round trips.
        async let dayRows = store.rows([id], period: .day, labels: range.dayLabels)
        async let hourRows = store.rows([id], period: .hour, labels: (0..<24).map { lastDay + String($0).leftPadded(to: 2) })
        async let budgetsTable = budgetTable(organization, configuration, zone: zone)
        async let alertsTable = alertTable(id, range: range, zone: zone)
        let rows = try await dayRows, hours = try await hourRows
        let currency = configuration.settings.currency
        let path = "/org/\(HTML.query(id))"
        let total = rows.total

        func breakdown(_ tableID: String, _ title: String, _ name: String, link: ((String) -> String)? = nil,
                       _ key: (RollupStore.Row) -> String) -> Table {
            Table(id: tableID, title: title, columns: [name, "requests", "input tokens", "output tokens", "cost", "cost per request", "tokens per request"],
                  rows: rows.grouped(key).map { value, totals in
                      [Table.Cell(value.isEmpty ? "(none)" : value, link: link?(value)), .number(totals.requests), .number(totals.usage.input + totals.usage.cachedInput + totals.usage.cacheWrite),
                       .number(totals.usage.output + totals.usage.reasoning), .money(money(totals.costNanos, configuration)),
                       .money(money(totals.requests == 0 ? 0 : totals.costNanos / totals.requests, configuration)),
                       .number(totals.requests == 0 ? 0 : totals.usage.total / totals.requests)]
                  })
        }
        let byDay = Dictionary(grouping: rows, by: \.label).mapValues(\.total)
        let days = Table(id: "days", title: "Days", columns: ["day", "requests", "tokens", "cost"],
                         rows: zip(range.days, range.dayLabels).compactMap { day, label in
                             guard let totals = byDay[label] else { return nil }
                             return [Table.Cell(day, link: "\(path)?\(range.only(day).query)"), .number(totals.requests), .number(totals.usage.total),
                                     .money(money(totals.costNanos, configuration))]
                         }, note: "Days with usage; a day links to that day alone.")
        let budgets = try await budgetsTable, alerts = try await alertsTable
        let byHour = Dictionary(grouping: hours, by: \.label).mapValues(\.total)
        let hourBars = (0..<24).map { hour in
            let cost = byHour[lastDay + String(hour).leftPadded(to: 2)]?.costNanos ?? 0
            return (label: String(hour).leftPadded(to: 2), value: cost, text: money(cost, configuration))
        }

        var head = "<div class=\"figures\">"
        head += Layout.figure("Cost in range (\(currency.code))", money(total.costNanos, configuration), id: "total-cost", link: "#days")
        head += Layout.figure("Requests in range", String(total.requests), id: "total-requests", link: "#days")
        head += Layout.figure("Tokens in range", String(total.usage.total), id: "total-tokens", link: "#days")
        head += "</div><p class=\"note\">Tier \(HTML.escape(organization.tier))\(organization.suspended ? " · suspended" : "").</p>"
        let charts = [
            "days": BarChart(title: "Cost per day (\(currency.code))", bars: dailyBars(rows, range, configuration)).svg
                + BarChart(title: "Cost per hour on \(range.to) (\(currency.code))", bars: hourBars).svg,
        ]
        let modelLink = { (model: String) in "/model/\(HTML.query(model))?org=\(HTML.query(id))&\(range.query)" }
        return try render(request, title: "Organization \(id)", access: access, range: range, path: path,
                          timezoneNote: "The tier's timezone: days and budgets reset at its midnight.", head: head,
                          tables: [days, budgets, alerts,
                                   breakdown("workspaces", "Workspaces", "workspace") { $0.dimensions.workspace },
                                   breakdown("keys", "Keys", "key") { $0.dimensions.key },
                                   breakdown("models", "Models", "model", link: modelLink) { $0.dimensions.model },
                                   breakdown("users", "Users", "user") { $0.dimensions.user },
                                   breakdown("features", "Features", "feature") { $0.dimensions.feature },
                                   breakdown("experiments", "Experiments", "experiment") { $0.dimensions.experiment }],
                          charts: charts)
    }

    /// Budgets of the organisation and of its workspaces and keys that have limits (the
    /// levels enforcement checks), as the live counters stand now.
    func budgetTable(_ organization: Organization, _ configuration: TollgateConfiguration, zone: NamedTimeZone) async throws -> Table {
        let levels = governedLevels(of: organization.id, configuration)
        let quota = try await engine(configuration).quota(organization: organization.id, levels: levels, timezone: zone.zone, settings: configuration.settings)
        func remaining(_ limit: Money?, _ spent: Money, _ held: Money) -> String {
            guard let limit else { return "no limit" }
            return Money(nanos: max(0, limit.nanos - spent.nanos - held.nanos), currency: limit.currency).decimalString
        }
        let dayReset = Self.localTime(quota.dayResetsAt, zone), monthReset = Self.localTime(quota.monthResetsAt, zone)
        return Table(id: "budgets", title: "Budgets now", columns: ["level", "id", "spent today", "held today", "daily budget", "remaining today", "day resets",
                                                                     "spent this month", "held this month", "monthly budget", "remaining this month", "month resets"],
                     rows: quota.levels.map { usage in
                         let limits = usage.level.limits
                         return [Table.Cell(usage.level.scope.rawValue), Table.Cell(usage.level.id), .money(usage.daySpent.decimalString), .money(usage.dayHeld.decimalString),
                                 .money(limits.dailyBudget?.decimalString ?? "no limit"), .money(remaining(limits.dailyBudget, usage.daySpent, usage.dayHeld)), Table.Cell(dayReset),
                                 .money(usage.monthSpent.decimalString), .money(usage.monthHeld.decimalString),
                                 .money(limits.monthlyBudget?.decimalString ?? "no limit"), .money(remaining(limits.monthlyBudget, usage.monthSpent, usage.monthHeld)),
                                 Table.Cell(monthReset)]
                     }, note: "From the live counters, not the range: held is reserved by requests in flight.")
    }

    /// The alerts the monitor fired for the organisation in the range (its alert log: the
    /// last 200, kept 90 days), newest first.
    func alertTable(_ organization: String, range: ReportRange, zone: NamedTimeZone) async throws -> Table {
        let log = keys.alertLog(organization: organization)
        let entries = try await redis.send(.keyed("LRANGE", log, 0, -1)).array ?? []
        let calendar = PeriodCalendar(timezone: zone.zone)
        let decoder = JSONDecoder()
        let alerts = entries.compactMap { $0.string.flatMap { try? decoder.decode(Alert.self, from: Data($0.utf8)) } }
            .filter { (range.from...range.to).contains(calendar.dayLabel($0.at)) }
        return Table(id: "alerts", title: "Alerts fired", columns: ["time", "kind", "level", "id", "limit", "percent", "message"],
                     rows: alerts.map { alert in
                         [Table.Cell(Self.localTime(alert.at, zone)), Table.Cell(alert.kind), Table.Cell(alert.scope), Table.Cell(alert.subject),
                          Table.Cell(alert.limit), Table.Cell("\(alert.percent)%", numeric: true), Table.Cell(alert.message)]
                     }, note: "What the monitor fired in the range (budget thresholds, TPM saturation, projected exhaustion, low cache-hit rate), newest first.",
                     empty: "no alerts in this range")
    }

    /// `2026-12-01 00:00 Europe/Berlin`.
    static func localTime(_ millis: Int64, _ zone: NamedTimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone.zone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: Date(timeIntervalSince1970: Double(millis) / 1000))
        return String(format: "%04d-%02d-%02d %02d:%02d ", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0, parts.minute ?? 0) + zone.name
    }
}
