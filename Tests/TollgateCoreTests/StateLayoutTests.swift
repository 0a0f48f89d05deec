import Foundation
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// The two state layouts (``Settings/StateLayout``) count alike, and a deployment can upgrade
/// and switch between them while traffic flows. The same random traffic runs against four
/// organisations: one writing layout 2; one layout 1; one switching between them at random on
/// every step; and one upgraded the way an operator would: each step served at random by the
/// engine library of the version before layout 2 (`Payloads/engine-f5e7d86`, its scripts as
/// released) or by this one writing layout 1, then by this one alone, switched to layout 2.
/// After every step, their decisions and counters must be equal.
@Suite(.serialized) struct StateLayoutTests {
    /// A bucket of a minute, and every step's clock put in the middle of a bucket: the three
    /// runs of a step always fall in the same bucket, however slow the machine.
    static let bucketMilliseconds: Int64 = 60_000

    /// Where the traffic's clock starts: midnight UTC on the 11th of next month, so that the
    /// steps' days and months begin at the same steps whatever the hour and date of the run
    /// (the budgets' periods decide which paths the traffic takes; 200 steps span ~3 days).
    static func origin(after now: Date) -> Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let month = calendar.dateInterval(of: .month, for: now)!.end
        return Int64(calendar.date(byAdding: .day, value: 10, to: month)!.timeIntervalSince1970 * 1_000)
    }

    @Test func bothLayoutsAndASwitchBetweenThemCountAlike() async throws {
        let settings = Settings(windowSeconds: 3_600, bucketMilliseconds: Int(Self.bucketMilliseconds))
        let limits = Limits(tpm: 2_500, rpm: 6, dailyBudget: .usd("0.012"), monthlyBudget: .usd("0.05"))
        let caps = UserCaps(tpm: 1_500, dailySpend: .usd("0.004"))
        var runs: [EngineFixture] = []
        for name in ["layout2", "layout1", "switching", "upgrade"] {
            var fixture = try await EngineFixture.make(limits: limits, userCaps: caps, settings: settings, name: "\(#function)-\(name)")
            if name == "layout1" || name == "upgrade" { fixture.configuration.settings.stateLayout = .ringSlot }
            runs.append(fixture)
        }
        let earlier = QuotaEngine(redis: runs[3].client, keys: runs[3].keys, scripts: try Self.earlierScripts())
        let upgradeDoneAt = 140

        var random = SplitMix64(seed: 15)
        var open: [String] = []
        var bucketsAhead: Int64 = 0
        let jumps: [Int64] = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 3, 7, 8, 9, 30, 60, 61, 62, 200]
        let users = ["u1", "u2", nil]
        var seen: [String: Int] = [:]
        let origin = Self.origin(after: Date())
        for step in 0..<200 {
            bucketsAhead += jumps[Int(random.next() % UInt64(jumps.count))]
            let real = Int64(Date().timeIntervalSince1970 * 1_000)
            let offset = origin - real + bucketsAhead * Self.bucketMilliseconds + Self.bucketMilliseconds / 2
            runs[2].configuration.settings.stateLayout = random.next() % 2 == 0 ? .ringSlot : .header
            let served = step < upgradeDoneAt && random.next() % 2 == 0 ? earlier : runs[3].engine
            if step == upgradeDoneAt { runs[3].configuration.settings.stateLayout = .header }
            let action = open.isEmpty ? 0 : random.next() % 10
            let key = random.next() % 2 == 0 ? "k1" : "k2"
            let user = users[Int(random.next() % 3)]
            let (a, b) = (Int64(random.next() % 900), Int64(random.next() % 400))
            let chosen = open.isEmpty ? "" : open[Int(random.next() % UInt64(open.count))]
            var outcomes: [String] = []
            var retries: [Int64] = []
            for (index, run) in runs.enumerated() {
                var engine = index == 3 ? served : run.engine
                engine.clockOffsetMillis = offset
                var outcome: String
                switch action {
                case 0..<5:
                    let decision = try await run.reserve("r\(step)", input: a + 10, output: b + 1, key: key, user: user, engine: engine)
                    (outcome, retries) = (Self.describe(decision), retries + [Self.retryMilliseconds(decision)])
                case 5..<8:
                    let settlement = try await run.commit(chosen, TokenUsage(input: a, output: b), key: key, engine: engine)
                    outcome = "commit \(settlement.cost) \(settlement.settledHold) \(settlement.overLimits)"
                default:
                    outcome = "release \(try await run.release(chosen, engine: engine))"
                }
                for (quotaKey, quotaUser) in [("k1", "u1"), ("k2", "u2"), ("k1", nil)] as [(String, String?)] {
                    outcome += "\n" + Self.describe(try await run.quota(key: quotaKey, user: quotaUser, engine: engine))
                }
                outcomes.append(outcome)
            }
            #expect(outcomes[1] == outcomes[0], "step \(step): layout 1 differs from layout 2")
            #expect(outcomes[2] == outcomes[0], "step \(step): switching layouts differs from layout 2")
            #expect(outcomes[3] == outcomes[0], "step \(step): the upgrade differs from layout 2")
            // A retry time is relative to each call's own moment: the same within the slack of a second.
            #expect(retries.allSatisfy { abs($0 - retries[0]) <= 1_000 }, "step \(step): retry times \(retries)")
            if Set(outcomes).count > 1 { break }
            seen[String(outcomes[0].prefix { $0 != " " && $0 != "\n" }) + (outcomes[0].hasPrefix("limited") ? " " + String(outcomes[0].split(separator: " ")[1]) : ""), default: 0] += 1
            if action < 5, outcomes[0].hasPrefix("allowed") { open.append("r\(step)") }
            if action >= 5 { open.removeAll { $0 == chosen } }
        }
        // The traffic went through every path: admissions, refusals by windows and budgets, commits, releases.
        print("state layouts: \(seen.sorted { $0.key < $1.key })")
        for kind in ["allowed", "limited tpm", "commit", "release"] { #expect(seen[kind, default: 0] >= 3, "\(kind): \(seen)") }
        #expect(seen.keys.contains { $0.hasPrefix("limited budget") }, "\(seen)")

        // Each writes its own layout: 101-byte headers in layout 2, 93 in layout 1 (which
        // earlier versions read), the newest bucket's counts in its ring slot.
        #expect(try await runs[0].client.send(.keyed("HSTRLEN", runs[0].keys.state(organization: "acme"), "o")).int == 101)
        #expect(try await runs[1].client.send(.keyed("HSTRLEN", runs[1].keys.state(organization: "acme"), "o")).int == 93)
        #expect(try await runs[3].client.send(.keyed("HSTRLEN", runs[3].keys.state(organization: "acme"), "o")).int == 101)
        for run in runs { try await run.cleanUp() }
    }

    /// A window whose size the settings changed (here 31 buckets, then 61) restarts alike in
    /// both layouts: a layout 1 subject keeps nothing of its old ring in the new one.
    @Test func aWindowOfAnotherSizeRestartsAlikeInBothLayouts() async throws {
        let bucket: Int64 = 2_000
        var runs: [EngineFixture] = []
        for layout in [Settings.StateLayout.header, .ringSlot] {
            var fixture = try await EngineFixture.make(limits: Limits(tpm: 100_000, rpm: 1_000),
                                                       settings: Settings(windowSeconds: 60, bucketMilliseconds: Int(bucket)), name: "\(#function)-\(layout)")
            fixture.configuration.settings.stateLayout = layout
            runs.append(fixture)
        }
        for step in 0..<110 {
            // Steps 0-29 in the 60 s window, then 120 s (61 buckets), each step one bucket later.
            if step == 30 { for index in runs.indices { runs[index].configuration.settings.windowSeconds = 120 } }
            let real = Int64(Date().timeIntervalSince1970 * 1_000)
            let offset = Int64(step) * bucket + (bucket / 2 - real % bucket)
            var seen: [String] = []
            for run in runs {
                let engine = run.shifted(by: .milliseconds(offset))
                let decision = try await run.reserve("s\(step)", input: 10 + Int64(step), output: 0, engine: engine)
                _ = try await run.commit("s\(step)", TokenUsage(input: 5 + Int64(step)), engine: engine)
                seen.append(Self.describe(decision) + "\n" + Self.describe(try await run.quota(engine: engine)))
            }
            #expect(seen[1] == seen[0], "step \(step)")
            if seen[1] != seen[0] { break }
        }
        for run in runs { try await run.cleanUp() }
    }

    /// Going back after the switch (Docs/operations.md): once a window and two buckets have
    /// passed since a subject was last written in layout 2, the earlier version reads its day and
    /// month counters and restarts its window, as this version does.
    @Test func anEarlierVersionReadsALayoutTwoSubjectOnceItsWindowHasPassed() async throws {
        var fixture = try await EngineFixture.make(userCaps: UserCaps(tpm: 100_000))
        for index in 0..<5 {
            _ = try #require(try await fixture.reserve("r\(index)", input: 300, output: 100, user: "alice").hold)
            _ = try await fixture.commit("r\(index)", TokenUsage(input: 250, output: 40 + Int64(index)))
        }
        #expect(try await fixture.client.send(.keyed("HSTRLEN", fixture.keys.state(organization: "acme"), "o")).int == 101)
        let later = Int64(fixture.settings.windowSeconds) * 1_000 + 2 * Int64(fixture.settings.bucketMilliseconds)
        var earlier = QuotaEngine(redis: fixture.client, keys: fixture.keys, scripts: try Self.earlierScripts())
        earlier.clockOffsetMillis = later
        fixture.configuration.settings.stateLayout = .ringSlot
        let current = fixture.shifted(by: .milliseconds(later))
        // Read alike, before and after the earlier version writes the subjects again.
        for step in 0..<2 {
            let seenBefore = Self.describe(try await fixture.quota(user: "alice", engine: earlier))
            #expect(seenBefore == Self.describe(try await fixture.quota(user: "alice", engine: current)), "step \(step)")
            #expect(try await fixture.quota(user: "alice", engine: current).level(.organization).windowTokens == Int64(step) * 290)
            _ = try #require(try await fixture.reserve("later\(step)", input: 300, output: 100, user: "alice", engine: earlier).hold)
            _ = try await fixture.commit("later\(step)", TokenUsage(input: 250, output: 40), engine: earlier)
        }
        #expect(try await fixture.client.send(.keyed("HSTRLEN", fixture.keys.state(organization: "acme"), "o")).int == 93)
        try await fixture.cleanUp()
    }

    /// The engine library of the version before layout 2, as it was released: its scripts
    /// verbatim, built with today's contract except for the subject header, which was layout 1's.
    static func earlierScripts() throws -> QuotaScripts {
        try QuotaScripts.load { name throws(QuotaScripts.ScriptLoadingError) in
            guard let url = Bundle.module.url(forResource: name, withExtension: "lua", subdirectory: "Payloads/engine-f5e7d86"),
                  let text = try? String(contentsOf: url, encoding: .utf8) else { return try QuotaScripts.source(name) }
            return text.replacingOccurrences(of: "SUBJECT_FORMAT", with: "SUBJECT_FORMAT_1").replacingOccurrences(of: "SUBJECT_SIZE", with: "SUBJECT_SIZE_1")
        }
    }

    /// A decision without its times (relative to each call's own moment).
    static func describe(_ decision: ReserveDecision) -> String {
        func remaining(_ status: RateLimitStatus) -> String {
            "\(status.tokensLimit ?? -1)/\(status.tokensRemaining ?? -1) \(status.requestsLimit ?? -1)/\(status.requestsRemaining ?? -1)"
        }
        return switch decision {
        case .allowed(let hold, let status): "allowed \(hold.estimatedTokens) \(hold.estimatedCost) \(remaining(status))"
        case .limited(let refusal, let status): "limited \(refusal.reason) \(refusal.limit) \(refusal.scope) \(refusal.retryAfter == nil) \(remaining(status))"
        default: "\(decision)"
        }
    }

    static func retryMilliseconds(_ decision: ReserveDecision) -> Int64 {
        guard case .limited(let refusal, _) = decision, let retry = refusal.retryAfter else { return 0 }
        return retry.components.seconds * 1_000 + retry.components.attoseconds / 1_000_000_000_000_000
    }

    /// A snapshot with each window's reset as the moment it falls on (not relative to `now`).
    static func describe(_ snapshot: QuotaSnapshot) -> String {
        snapshot.levels.map { level in
            let reset = snapshot.now + Int64(level.windowReset.components.seconds * 1_000 + level.windowReset.components.attoseconds / 1_000_000_000_000_000)
            return "\(level.level.scope) \(level.windowTracked) \(level.windowTokens) \(level.windowRequests) reset=\(level.windowTokens > 0 || level.windowRequests > 0 ? reset : 0) "
                + "\(level.daySpent) \(level.dayHeld) \(level.dayTokens) \(level.monthSpent) \(level.monthHeld) \(level.monthTokens)"
        }.joined(separator: " | ")
    }
}
