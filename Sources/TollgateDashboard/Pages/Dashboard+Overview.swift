import Foundation
import Hummingbird
import TollgateCore

extension Dashboard {
    /// The operators' timezone: the one most organisations' tiers use (UTC when none).
    func operatorTimezone(_ configuration: TollgateConfiguration) -> NamedTimeZone {
        var counts: [String: Int] = [:]
        for (tier, count) in organizationsPerTier(configuration) { counts[tierTimezone(tier, configuration).name, default: 0] += count }
        return NamedTimeZone(counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? "UTC")
    }

    /// Overview: spend in the range, the highest-cost organisations against their budgets,
    /// models, top users, features and experiments, cache hits and estimate accuracy. Read
    /// from the partition roll-ups (`OverviewStore`): its cost grows with days and rows
    /// shown, not with organisations. Operators only (a customer is sent to its page).
    func overview(_ request: Request) async throws -> Response {
        let (configuration, access) = try authorize(request)
        if case .customer(let own) = access { return Response(status: .seeOther, headers: [.location: "/org/\(HTML.query(own))"]) }
        let zone = operatorTimezone(configuration)
        let range = try range(request, timezone: zone)
        let shown = self.configuration.overviewOrganizations
        let overview = try await OverviewStore(redis: redis, keys: keys).read(range, top: shown)
        let ranked = overview.rankings[.organization] ?? []
        let quotas = try await organizationQuotas(ranked.map(\.organization), configuration)
        let currency = configuration.settings.currency
        let total = overview.total
        let mixed = organizationsPerTier(configuration).contains { $0.value > 0 && tierTimezone($0.key, configuration).name != zone.name }

        var organizationRows: [[Table.Cell]] = []
        for row in ranked {
            let id = row.organization, totals = row.totals
            guard let organization = configuration.organizations[id] else { continue }
            let limits = configuration.tiers[organization.tier].map { configuration.organizationLevel(organization, tier: $0).limits } ?? .none
            let quota = quotas[id]
            let level = quota?.levels.first
            let projected = quota.flatMap { Self.projectedMonthEnd(spent: $0.levels.first?.monthSpent.nanos ?? 0, now: $0.now, monthResetsAt: $0.monthResetsAt,
                                                                    timezone: timezone(of: organization, in: configuration).zone) }
            let tpmPercent = (limits.tpm ?? 0) > 0 ? "\((level?.windowTokens ?? 0) * 100 / limits.tpm!)%" : "no limit"
            organizationRows.append([
                Table.Cell(id, link: "/org/\(HTML.query(id))?from=\(range.from)&to=\(range.to)&tz=\(HTML.query(timezone(of: organization, in: configuration).name))"),
                Table.Cell(organization.tier), Table.Cell(timezone(of: organization, in: configuration).name),
                .number(totals.requests), .number(totals.usage.total), .money(money(totals.costNanos, configuration)),
                .money(level.map { $0.daySpent.decimalString } ?? "-"), .money(limits.dailyBudget?.decimalString ?? "none"),
                .money(level.map { $0.monthSpent.decimalString } ?? "-"), .money(level.map { $0.monthHeld.decimalString } ?? "-"),
                .money(limits.monthlyBudget?.decimalString ?? "none"),
                .money(projected.map { Money(nanos: $0, currency: currency).decimalString } ?? "-"), Table.Cell(tpmPercent, numeric: true),
                Table.Cell(Self.cacheHitRate(totals), numeric: true), Table.Cell(Self.estimateAccuracy(totals), numeric: true),
            ])
        }
        let organizationsTable = Table(
            id: "organizations", title: "Organizations",
            columns: ["organization", "tier", "timezone", "requests", "tokens", "cost", "spent today", "daily budget", "spent this month", "held",
                      "monthly budget", "projected month end", "TPM now", "cache-hit rate", "estimate / actual"],
            rows: organizationRows,
            note: "The \(shown) highest-cost organizations in the range (all of them when fewer have usage). cost, requests and tokens: the range, from the roll-ups; spent, held and TPM: the live counters now; projection: this month's spend at its rate so far; cache-hit rate: of the requests that said; estimate / actual: reserved tokens over the tokens those requests used.")

        let modelsTable = Table(id: "models", title: "Models", columns: ["model", "requests", "tokens", "cost", "cost per 1,000 requests", "latency p50", "latency p95"],
                                rows: overview.models.sorted { ($0.value.costNanos, $1.key) > ($1.value.costNanos, $0.key) }.map { model, totals in
                                    [Table.Cell(model, link: "/model/\(HTML.query(model))?\(range.query)"), .number(totals.requests), .number(totals.usage.total),
                                     .money(money(totals.costNanos, configuration)), .money(money(Self.perThousand(totals), configuration)),
                                     Table.Cell(Self.latencyText(overview.latency[model], 0.5), numeric: true),
                                     Table.Cell(Self.latencyText(overview.latency[model], 0.95), numeric: true)]
                                }, note: "Latency from the latency_ms commits report, as the bucket that holds the percentile (≤ 250 ms: between 100 and 250 ms).")
        func top(_ ranking: OverviewRanking, _ id: String, _ title: String, _ name: String) -> Table {
            Table(id: id, title: title, columns: ["organization", name, "requests", "cost"],
                  rows: (overview.rankings[ranking] ?? []).prefix(10).map { row in
                      [Table.Cell(row.organization, link: "/org/\(HTML.query(row.organization))?from=\(range.from)&to=\(range.to)"),
                       Table.Cell(row.value.isEmpty ? "(none)" : row.value), .number(row.totals.requests), .money(money(row.totals.costNanos, configuration))]
                  },
                  note: "The ten highest-cost, over the range.")
        }
        let refusalsTable = Table(id: "refusals", title: "Refusals by reason", columns: ["reason", "refused reservations"],
                                  rows: overview.refusals.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { [Table.Cell($0.key), .number($0.value)] },
                                  note: "Reservations refused with 429 in the range, counted by the gateways (each organization's days).",
                                  empty: "no refusals in this range")
        var head = "<div class=\"figures\">"
        head += Layout.figure("Cost in range (\(currency.code))", money(total.costNanos, configuration), id: "total-cost", link: "#organizations")
        head += Layout.figure("Requests in range", String(total.requests), id: "total-requests", link: "#organizations")
        head += Layout.figure("Tokens in range", String(total.usage.total), id: "total-tokens", link: "#models")
        head += Layout.figure("Cache-hit rate", Self.cacheHitRate(total), id: "cache-hit-rate", link: "#organizations")
        head += Layout.figure("Estimate / actual tokens", Self.estimateAccuracy(total), id: "estimate-accuracy", link: "#organizations")
        head += Layout.figure("Refusals in range", String(overview.refusals.values.reduce(0, +)), id: "total-refusals", link: "#refusals")
        head += Layout.figure("Organizations", String(organizationCount(configuration)), id: "organization-count", link: "#organizations")
        head += "</div>"
        let dailyChart = BarChart(title: "Cost per day (\(currency.code))", bars: dailyBars(overview.days, range, configuration)).svg
        let note = mixed ? "Organizations whose tier uses another timezone are reported in their own days (see the timezone column), as `tollgate usage report` does."
            : "Every organization's tier uses this timezone."
        return try render(request, title: "Overview", access: access, range: range, path: "/", timezoneNote: note, head: head + "<div class=\"chart\">\(dailyChart)</div>",
                          tables: [organizationsTable, refusalsTable, modelsTable, top(.user, "users", "Top users", "user"),
                                   top(.feature, "features", "Top features", "feature"),
                                   top(.experiment, "experiments", "Top experiments", "experiment")])
    }

    /// Hits over the requests that said whether their prompt hit the cache, in percent.
    static func cacheHitRate(_ totals: UsageTotals) -> String {
        totals.cacheKnown == 0 ? "-" : "\(totals.cacheHits * 100 / totals.cacheKnown)%"
    }

    /// Reserved (estimated) tokens over the actual tokens of the same requests, in percent.
    static func estimateAccuracy(_ totals: UsageTotals) -> String {
        totals.estimatedActualTokens == 0 ? "-" : "\(totals.estimatedTokens * 100 / totals.estimatedActualTokens)%"
    }

    func dailyBars(_ rows: [RollupStore.Row], _ range: ReportRange, _ configuration: TollgateConfiguration) -> [(label: String, value: Int64, text: String)] {
        dailyBars(Dictionary(grouping: rows, by: \.label).mapValues(\.total), range, configuration)
    }

    func dailyBars(_ byDay: [String: UsageTotals], _ range: ReportRange, _ configuration: TollgateConfiguration) -> [(label: String, value: Int64, text: String)] {
        zip(range.days, range.dayLabels).map { day, label in
            let cost = byDay[label]?.costNanos ?? 0
            return (String(day.suffix(5)), cost, money(cost, configuration))
        }
    }

    /// The organisation level's live counters of each organisation: one script call each,
    /// at most 500 in flight at once (the client pipelines them; see RollupStore for why
    /// the number in flight is bounded).
    func organizationQuotas(_ organizations: [String], _ configuration: TollgateConfiguration) async throws -> [String: QuotaSnapshot] {
        let engine = engine(configuration)
        var result: [String: QuotaSnapshot] = [:]
        for start in stride(from: 0, to: organizations.count, by: 500) {
            try await withThrowingTaskGroup(of: (String, QuotaSnapshot).self) { group in
                for id in organizations[start..<min(start + 500, organizations.count)] {
                    guard let organization = configuration.organizations[id], let tier = configuration.tiers[organization.tier] else { continue }
                    let level = configuration.organizationLevel(organization, tier: tier)
                    let zone = timezone(of: organization, in: configuration).zone
                    group.addTask {
                        (id, try await engine.quota(organization: id, levels: [level], timezone: zone, settings: configuration.settings))
                    }
                }
                for try await (id, quota) in group { result[id] = quota }
            }
        }
        return result
    }

    /// This month's spend extended to the month's end at its rate so far, in whole hours
    /// begun (so the figure, and its CSV, hold for the hour), in exact integers.
    static func projectedMonthEnd(spent: Int64, now: Int64, monthResetsAt: Int64, timezone: TimeZone) -> Int64? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timezone
        let date = Date(timeIntervalSince1970: Double(now) / 1000)
        guard let start = calendar.date(from: calendar.dateComponents([.year, .month], from: date)) else { return nil }
        let hour: Int64 = 3_600_000
        let elapsedHours = (now - Int64(start.timeIntervalSince1970 * 1000)) / hour + 1
        let monthHours = (monthResetsAt - Int64(start.timeIntervalSince1970 * 1000) + hour - 1) / hour
        guard monthHours > 0 else { return nil }
        return Int64(Int128(spent) * Int128(monthHours) / Int128(min(elapsedHours, monthHours)))
    }

    static func latencyText(_ histogram: LatencyHistogram?, _ quantile: Double) -> String {
        guard let histogram, histogram.total > 0 else { return "-" }
        return histogram.quantileBound(quantile).map { "≤ \($0) ms" } ?? "> \(LatencyHistogram.bounds.last!) ms"
    }

    static func perThousand(_ totals: UsageTotals) -> Int64 {
        totals.requests == 0 ? 0 : Int64(Int128(totals.costNanos) * 1_000 / Int128(totals.requests))
    }
}
