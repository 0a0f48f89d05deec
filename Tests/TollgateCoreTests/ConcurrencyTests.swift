import Foundation
import RedisTestSupport
import Testing
@testable import TollgateCore
import TollgateRedis

/// The engine's promises under real concurrency: many tasks over several connections in this
/// process, plus independent client processes (`tollgate-bench engine-load`), all on one Redis.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct ConcurrencyTests {
    struct Admission: Decodable {
        var rid: String
        var at: Int64?
        var tokens: Int64?
        var cost: Int64?
        var allowed: Bool?
        var error: String?
    }

    /// Runs `processes` engine-load processes and `localTasks` callers here, for `seconds`.
    static func runLoad(_ fixture: EngineFixture, processes: Int, localTasks: Int, seconds: Double,
                        commit: String, tokens: ClosedRange<Int64>) async throws -> [Admission] {
        let url = try await TestRedis.url()
        let configFile = try RedisServer.makeTemporaryDirectory() + "/config.json"
        try fixture.configuration.encodeJSON().write(to: URL(fileURLWithPath: configFile))
        let bench = try ChildProcess.executable("tollgate-bench")
        let children = try (0..<processes).map { index in
            try ChildProcess(bench, [
                "engine-load", "--url", url, "--prefix", fixture.keys.prefix, "--config", configFile, "--keys", "k1,k2",
                "--concurrency", "8", "--seconds", String(seconds), "--commit", commit, "--id-prefix", "proc\(index)",
                "--min-tokens", String(tokens.lowerBound), "--max-tokens", String(tokens.upperBound), "--lines",
            ])
        }

        // Local callers over this fixture's own pool of connections.
        let deadline = Date().addingTimeInterval(seconds)
        let local = try await withThrowingTaskGroup(of: [Admission].self) { group in
            for worker in 0..<localTasks {
                group.addTask {
                    var admissions: [Admission] = []
                    var index = 0
                    while Date() < deadline {
                        index += 1
                        let id = "local-\(worker)-\(index)"
                        let input = Int64.random(in: tokens)
                        let key = index.isMultiple(of: 2) ? "k1" : "k2"
                        switch try await fixture.reserve(id, input: input, output: 0, key: key) {
                        case .allowed(let hold, _):
                            var cost = hold.estimatedCost.nanos
                            if commit != "none" {
                                let actual = commit == "less" ? Int64.random(in: 0...input) : input
                                cost = try await fixture.commit(id, TokenUsage(input: actual), key: key).cost.nanos
                            }
                            admissions.append(Admission(rid: id, at: hold.reservedAt, tokens: hold.estimatedTokens, cost: cost, allowed: true))
                        case .limited(let refusal, _):
                            admissions.append(Admission(rid: id, allowed: false))
                            if let retry = refusal.retryAfter { try await Task.sleep(for: min(retry, .milliseconds(50))) }
                        default:
                            Issue.record("unexpected decision for \(id)")
                        }
                    }
                    return admissions
                }
            }
            return try await group.reduce(into: [Admission]()) { $0 += $1 }
        }

        var all = local
        for child in children {
            let status = await child.wait(timeout: .seconds(seconds + 60))
            #expect(status == 0, "engine-load exited with \(status): \(child.output.suffix(500))")
            for line in child.output.split(separator: "\n") where line.hasPrefix("{") {
                all.append(try JSONDecoder().decode(Admission.self, from: Data(line.utf8)))
            }
        }
        #expect(all.allSatisfy { $0.error == nil }, "errors: \(all.compactMap(\.error).prefix(3))")
        return all
    }

    /// The largest number of tokens admitted within any closed interval of `window` ms.
    static func maximumInAnyWindow(_ admissions: [Admission], window: Int64) -> Int64 {
        let sorted = admissions.filter { $0.allowed == true }.sorted { $0.at! < $1.at! }
        var maximum: Int64 = 0
        var sum: Int64 = 0
        var start = 0
        for (index, admission) in sorted.enumerated() {
            sum += admission.tokens!
            while sorted[start].at! < admission.at! - window {
                sum -= sorted[start].tokens!
                start += 1
            }
            _ = index
            maximum = max(maximum, sum)
        }
        return maximum
    }

    @Test func noTPMOvershootInAnyWindowAcrossProcesses() async throws {
        // A 6-second window with 200 ms buckets: the same code as the 60-second default,
        // exercised through several window lengths in a short test.
        let settings = Settings(windowSeconds: 6, bucketMilliseconds: 200)
        let fixture = try await EngineFixture.make(limits: Limits(tpm: 40_000), settings: settings)
        let admissions = try await Self.runLoad(fixture, processes: 2, localTasks: 8, seconds: 15, commit: "exact", tokens: 100...900)
        let allowed = admissions.filter { $0.allowed == true }
        let refused = admissions.count - allowed.count
        let peak = Self.maximumInAnyWindow(admissions, window: 6_000)
        #expect(peak <= 40_000, "admitted \(peak) tokens within one 6 s window")
        // The load pushed against the limit, so the check means something.
        #expect(refused > 100)
        #expect(peak > 36_000, "peak \(peak)")
        // Concurrent calls of this process went to Redis in batches (CallCoalescer), as in a gateway.
        let batches = fixture.engine.coalescer?.batches ?? 0
        #expect(batches > 10, "batches: \(batches)")
        // Requests came from all three processes.
        #expect(Set(allowed.map { String($0.rid.prefix(5)) }).isSuperset(of: ["proc0", "proc1", "local"]))
        // The ledger has one entry per admitted and committed request, and the counters equal its sum.
        let ledger = try await fixture.ledger()
        #expect(ledger.count == allowed.count)
        let quota = try await fixture.quota()
        let ledgerCost = ledger.reduce(Int64(0)) { $0 + $1.costNanos }
        #expect(quota.level(.organization).daySpent.nanos == ledgerCost)
        #expect(quota.level(.organization).dayHeld.nanos == 0)
        try await fixture.cleanUp()
    }

    @Test(.timeLimit(.minutes(3))) func noTPMOvershootInAnySixtySecondInterval() async throws {
        // The default window (60 s, 2 s buckets), driven for 75 s from two processes and here.
        let fixture = try await EngineFixture.make(limits: Limits(tpm: 150_000))
        let admissions = try await Self.runLoad(fixture, processes: 2, localTasks: 4, seconds: 75, commit: "exact", tokens: 200...2_000)
        let peak = Self.maximumInAnyWindow(admissions, window: 60_000)
        #expect(peak <= 150_000, "admitted \(peak) tokens within one 60 s interval")
        #expect(peak > 140_000, "peak \(peak)")
        #expect(admissions.contains { $0.allowed == false })
        try await fixture.cleanUp()
    }

    @Test func noBudgetOvershootAcrossProcesses() async throws {
        // $0.20 a day; each request holds its estimate ($0.0001–$0.0009) and commits at most that.
        let fixture = try await EngineFixture.make(limits: Limits(dailyBudget: .usd("0.20")))
        let admissions = try await Self.runLoad(fixture, processes: 2, localTasks: 8, seconds: 6, commit: "less", tokens: 100...900)
        let quota = try await fixture.quota()
        let organization = quota.level(.organization)
        #expect(organization.daySpent <= .usd("0.20"))
        #expect(organization.dayHeld == .usd("0"))
        let spent = admissions.filter { $0.allowed == true }.reduce(Int64(0)) { $0 + $1.cost! }
        #expect(organization.daySpent.nanos == spent)
        #expect(admissions.contains { $0.allowed == false })
        try await fixture.cleanUp()
    }

    @Test func everyHoldEndsExactlyOnce() async throws {
        // At noon: the monitor's engine runs 31 s ahead, and in the last 31 s of a UTC day its
        // writes and the commits' would each start the other's day afresh.
        let fixture = try await EngineFixture.make(limits: Limits(tpm: 10_000_000, dailyBudget: .usd("100")), holdSeconds: 30).atNoon()
        let count = 300
        // Reserve from many tasks at once.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask { _ = try #require(try await fixture.reserve("r\(index)", input: 100, output: 100).hold) }
            }
            try await group.waitForAll()
        }
        // Then race: commits, releases and their retries, concurrently; a third is left to expire.
        let monitor = fixture.shifted(by: .seconds(31))
        let outcomes = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for index in 0..<count {
                for attempt in 0..<3 {
                    group.addTask {
                        switch index % 3 {
                        case 0: return (index, try await fixture.commit("r\(index)", TokenUsage(input: 50, output: 50)).isNew ? "committed" : "retry")
                        case 1: return (index, try await fixture.release("r\(index)") == .released(tokens: 200, cost: .usd("0.0003")) ? "released" : "retry")
                        default:
                            // The monitor's expiry runs twice at once for some, after the time is up.
                            guard attempt < 2 else { return (index, "retry") }
                            return (index, try await fixture.release("r\(index)", mode: .expire, engine: monitor) == .expired(tokens: 200, cost: .usd("0.0003")) ? "expired" : "retry")
                        }
                    }
                }
            }
            return try await group.reduce(into: [Int: [String]]()) { $0[$1.0, default: []].append($1.1) }
        }
        for index in 0..<count {
            let ends = outcomes[index, default: []].filter { $0 != "retry" }
            #expect(ends.count == 1, "request r\(index) ended \(ends)")
        }
        let quota = try await fixture.quota()
        let organization = quota.level(.organization)
        #expect(organization.dayHeld == .usd("0"))
        // 100 committed at 50 input + 50 output: 100 × (50 × 1000 + 50 × 2000) nanos.
        #expect(organization.daySpent == Money(nanos: 100 * 150_000))
        #expect(organization.windowTokens == 100 * 100)
        #expect(organization.windowRequests == 100)
        #expect(try await fixture.ledger().count == 100)
        #expect(try await fixture.client.send("ZCARD", fixture.keys.holds(organization: "acme")) == .integer(0))
        try await fixture.cleanUp()
    }
}
