import Foundation
import Hummingbird
import HummingbirdTesting
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateDashboard
@testable import TollgateMonitor

/// The monitor's partition roll-ups (what the overview reads) against each organisation's
/// own roll-ups (what `tollgate usage report` and the organisation page read), and the
/// alerts the organisation page shows.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"))
struct OverviewRollupTests {
    /// Usage over two days and two timezones, users, features, experiments, latency and cache.
    static func traffic(_ fixture: DashboardFixture) async throws {
        for index in 0..<9 {
            let daysAgo = Int64(index % 2)
            try await fixture.record("a\(index)", key: "k1", input: Int64(1_000 * (index + 1)), output: Int64(7 * index), user: "user-\(index % 3)",
                                     feature: index % 4 == 0 ? nil : "f\(index % 2)", experiment: "x\(index % 2)", latency: Int64(30 * index),
                                     cacheHit: index % 3 == 0 ? nil : index % 3 == 1, daysAgo: daysAgo)
            try await fixture.record("g\(index)", key: "g1", input: Int64(777 * (index + 2)), user: index % 2 == 0 ? "carol" : nil,
                                     latency: 400, cacheHit: index % 2 == 0, daysAgo: daysAgo)
        }
        _ = try await fixture.reserveAndCommit("g-reserved", key: "g1", estimate: 5_000, input: 4_000)
    }

    @Test func overviewRollupsEqualTheOrganizationsOwnRollups() async throws {
        let fixture = try await DashboardFixture.make()
        try await Self.traffic(fixture)
        try await fixture.rollUp()
        let snapshot = try #require(fixture.dashboard.watcher.snapshot)
        let organizations = fixture.dashboard.organizationIDs(fixture.dashboard.customers.fill(snapshot.configuration))
        let utc = NamedTimeZone("UTC")
        let today = PeriodCalendar(timezone: utc.zone).dayLabel(fixture.now)
        let yesterday = PeriodCalendar(timezone: utc.zone).dayLabel(fixture.now - 86_400_000)
        // Today alone (the month's roll-up holds yesterday too: the days are read), both
        // days, and the whole month (its roll-up stands in for the days).
        let ranges = [ReportRange(from: today, to: today, timezone: utc), ReportRange(from: yesterday, to: today, timezone: utc),
                      ReportRange(from: String(today.prefix(8)) + "01", to: today, timezone: utc)]
        for range in ranges {
            let overview = try await OverviewStore(redis: fixture.client, keys: fixture.keys).read(range, top: 50)
            let contents = try await fixture.dashboard.store.contents(organizations, period: .day, labels: range.dayLabels)
            let rows = contents.rows
            #expect(overview.total == rows.total, "\(range.from)..\(range.to)")
            #expect(overview.total.requests > 0 && overview.total.cacheKnown > 0 && overview.total.estimatedTokens > 0)
            #expect(overview.days == Dictionary(grouping: rows, by: \.label).mapValues(\.total), "\(range.from)..\(range.to)")
            #expect(overview.models == Dictionary(grouping: rows, by: \.dimensions.model).mapValues(\.total))
            #expect(overview.latency == contents.latencyByModel)
            let byOrganization = rows.grouped { $0.organization }
            #expect(overview.rankings[.organization]?.map(\.organization) == byOrganization.map(\.0))
            #expect(overview.rankings[.organization]?.map(\.totals) == byOrganization.map(\.1))
            for (ranking, key) in [(OverviewRanking.user, \RollupDimensions.user), (.feature, \.feature), (.experiment, \.experiment)] {
                let expected = rows.grouped { "\($0.organization)\t\($0.dimensions[keyPath: key])" }
                let shown = overview.rankings[ranking] ?? []
                #expect(shown.map { "\($0.organization)\t\($0.value)" } == expected.map(\.0), "\(ranking)")
                #expect(shown.map { [$0.totals.requests, $0.totals.costNanos] } == expected.map { [$0.1.requests, $0.1.costNanos] }, "\(ranking)")
            }
        }
        // The top N only: the highest-cost organisation, with its exact figures.
        let month = ranges[2]
        let top = try await OverviewStore(redis: fixture.client, keys: fixture.keys).read(month, top: 1).rankings[.organization] ?? []
        let expected = try await fixture.dashboard.store.rows(organizations, period: .day, labels: month.dayLabels).grouped { $0.organization }
        #expect(top.map(\.organization) == [expected[0].0] && top.first?.totals == expected[0].1)
        try await fixture.cleanUp()
    }

    @Test func overviewListsTheHighestCostOrganizationsAndTotalsEveryOne() async throws {
        let fixture = try await DashboardFixture.make(dashboardConfiguration: DashboardConfiguration(overviewOrganizations: 1))
        try await Self.traffic(fixture)
        try await fixture.rollUp()
        let snapshot = try #require(fixture.dashboard.watcher.snapshot)
        let rows = try await fixture.dashboard.store.rows(fixture.dashboard.organizationIDs(fixture.dashboard.customers.fill(snapshot.configuration)), period: .day,
                                                         labels: [PeriodCalendar(timezone: TimeZone(identifier: "UTC")!).dayLabel(fixture.now).replacingOccurrences(of: "-", with: "")])
        let currency = fixture.configuration.settings.currency
        try await fixture.test { client in
            let today = PeriodCalendar(timezone: TimeZone(identifier: "UTC")!).dayLabel(fixture.now)
            try await client.execute(uri: "/?from=\(today)&to=\(today)", method: .get, headers: DashboardFixture.headers(DashboardFixture.operatorSecret)) { response in
                #expect(response.status == .ok)
                let html = response.text
                #expect(DashboardPageTests.element(html, id: "total-cost") == Money(nanos: rows.total.costNanos, currency: currency).decimalString)
                try #require(rows.total.cacheKnown > 0 && rows.total.estimatedActualTokens > 0, "today's traffic said its cache use and was reserved")
                #expect(DashboardPageTests.element(html, id: "cache-hit-rate") == "\(rows.total.cacheHits * 100 / rows.total.cacheKnown)%")
                #expect(DashboardPageTests.element(html, id: "estimate-accuracy") == "\(rows.total.estimatedTokens * 100 / rows.total.estimatedActualTokens)%")
                let listed = DashboardPageTests.rows(html, table: "organizations")
                #expect(listed.map { $0[0] } == [rows.grouped { $0.organization }[0].0])
            }
        }
        try await fixture.cleanUp()
    }

    @Test func cacheHitAlertFiresOnceBelowTheTierFloorAndShowsOnTheOrganizationPage() async throws {
        // acme's tier alerts below 60% after 3 requests that said; globex's tier never (the default).
        let fixture = try await DashboardFixture.make(cacheHitAlertPercent: 60)
        let monitor = try fixture.monitor()
        let snapshot = try #require(await monitor.snapshot())
        let evaluator = AlertEvaluator(monitor: monitor)
        func cacheAlerts() async -> [Alert] { await evaluator.evaluate(snapshot).filter { $0.kind == "cache_hit_low" } }

        for (index, hit) in [false, false].enumerated() {
            try await fixture.record("a\(index)", key: "k1", input: 10, cacheHit: hit)
            try await fixture.record("g\(index)", key: "g1", input: 10, cacheHit: false)
        }
        try await fixture.rollUp()
        #expect(await cacheAlerts().isEmpty, "two requests that said: below the minimum of three")

        try await fixture.record("a2", key: "k1", input: 10, cacheHit: true)
        try await fixture.record("a3", key: "k1", input: 10)  // did not say: not counted
        try await fixture.record("g2", key: "g1", input: 10, cacheHit: false)
        try await fixture.rollUp()
        let fired = await cacheAlerts()
        #expect(fired.map(\.organization) == ["acme"] && fired.first?.percent == 33 && fired.first?.threshold == 60)
        #expect(await cacheAlerts().isEmpty, "once per organization and day")

        try await fixture.test { client in
            try await client.execute(uri: "/org/acme", method: .get, headers: DashboardFixture.headers(DashboardFixture.acmeSecret)) { response in
                let alerts = DashboardPageTests.rows(response.text, table: "alerts")
                #expect(alerts.filter { $0[1] == "cache_hit_low" }.map { $0[5] } == ["33%"], "\(alerts)")
            }
            try await client.execute(uri: "/org/globex", method: .get, headers: DashboardFixture.headers(DashboardFixture.operatorSecret)) { response in
                #expect(DashboardPageTests.rows(response.text, table: "alerts").filter { $0.count > 1 }.allSatisfy { $0[1] != "cache_hit_low" })
            }
        }
        try await fixture.cleanUp()
    }
}
