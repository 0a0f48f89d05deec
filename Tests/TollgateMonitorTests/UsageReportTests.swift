import Foundation
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateMonitor
import TollgateRedis

/// `tollgate usage report | top | export` read what the monitor rolled up.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct UsageReportTests {
    func cli(_ fixture: MonitorFixture, _ arguments: [String]) async throws -> (Int32, String) {
        let process = try ChildProcess(try ChildProcess.executable("tollgate"), arguments,
                                       environment: ["TOLLGATE_REDIS_URL": fixture.url, "TOLLGATE_KEY_PREFIX": fixture.prefix], separateErrors: true)
        let status = await process.wait(timeout: .seconds(30))
        return (status, process.output + process.errors)
    }

    @Test func reportsComeFromTheRollUps() async throws {
        let fixture = try await MonitorFixture.make()
        // alice/chat: 1,000 + 3,000 input on k1; bob/search: 2,000 input + 500 output on k2.
        try await fixture.record("u1", input: 1_000, key: "k1", user: "alice", feature: "chat", experiment: "a")
        try await fixture.record("u2", input: 3_000, key: "k1", user: "alice", feature: "chat", experiment: "b")
        try await fixture.record("u3", input: 2_000, output: 500, key: "k2", user: "bob", feature: "search")
        let monitor = try fixture.monitor(consumer: "a")
        let snapshot = try #require(await monitor.snapshot())
        let consumer = LedgerConsumer(monitor: monitor)
        await consumer.ensureGroups(snapshot)
        while await consumer.readNew(snapshot) {}
        let today = PeriodCalendar(timezone: TimeZone(identifier: "UTC")!).dayLabel(MonitorFixture.now)

        let (status, byUser) = try await cli(fixture, ["usage", "report", "--from", today, "--by", "user", "--csv"])
        #expect(status == 0, "\(byUser)")
        #expect(byUser.contains("alice,2,4000,0,0,0,0,0.004"))
        #expect(byUser.contains("bob,1,2000,0,0,500,0,0.003"))
        let byDay = try await cli(fixture, ["usage", "report", "--from", today, "--to", today, "--org", "acme", "--json"]).1
        #expect(byDay.contains(#""day":"\#(today)","requests":3,"input_tokens":6000"#) && byDay.contains(#""cost":"0.007""#))
        let byExperiment = try await cli(fixture, ["usage", "report", "--from", today, "--by", "experiment", "--csv"]).1
        #expect(byExperiment.contains("(none),1,2000,0,0,500,0,0.003,0,0,0,0\na,1,1000,0,0,0,0,0.001,0,0,0,0\nb,1,3000,0,0,0,0,0.003,0,0,0,0"), "\(byExperiment)")
        let top = try await cli(fixture, ["usage", "top", "--from", today, "--by", "feature", "--csv"]).1
        #expect(top.hasPrefix("rank,feature,cost,requests,input_tokens,output_tokens\n1,chat,0.004,2,4000,0\n2,search,0.003,1,2000,500"))
        let export = try await cli(fixture, ["usage", "export", "--from", today, "--json"]).1
        #expect(export.split(separator: "\n").filter { $0.hasPrefix("{") }.count == 3)
        #expect(export.contains(#""key":"k2","model":"test-model","user":"bob","feature":"search","experiment":"""#))
        let bad = try await cli(fixture, ["usage", "report", "--from", "2026-13-45"])
        #expect(bad.0 == 64 && bad.1.contains("not a date"))
        try await fixture.cleanUp()
    }
}
