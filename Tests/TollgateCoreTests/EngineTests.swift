import Foundation
import RedisTestSupport
import Testing
@testable import TollgateCore
import TollgateRedis

extension QuotaSnapshot {
    func level(_ scope: Scope) -> LevelUsage { levels.first { $0.level.scope == scope }! }
}

@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct EngineTests {
    @Test func commitSettlesTheHoldAtTheActualCost() async throws {
        let fixture = try await EngineFixture.make()
        let decision = try await fixture.reserve("r1", input: 1_000, output: 500)
        let hold = try #require(decision.hold)
        // 1,000 input at $1/1M + 500 output at $2/1M.
        #expect(hold.estimatedTokens == 1_500)
        #expect(hold.estimatedCost == .usd("0.002"))
        var quota = try await fixture.quota()
        #expect(quota.level(.organization).dayHeld == .usd("0.002"))
        #expect(quota.level(.organization).windowTokens == 1_500)
        #expect(quota.level(.key).dayHeld == .usd("0.002"))

        let settlement = try await fixture.commit("r1", TokenUsage(input: 800, output: 300))
        #expect(settlement.isNew && settlement.settledHold)
        #expect(settlement.cost == .usd("0.0014"))
        #expect(settlement.priceVersion == "test-model@1")
        quota = try await fixture.quota()
        for scope in [Scope.key, .workspace, .organization] {
            let level = quota.level(scope)
            #expect(level.dayHeld == .usd("0"), "\(scope)")
            #expect(level.daySpent == .usd("0.0014"), "\(scope)")
            #expect(level.monthSpent == .usd("0.0014"), "\(scope)")
            #expect(level.dayTokens == 1_100, "\(scope)")
        }
        // The window was corrected by actual − estimate in the bucket of the reservation.
        #expect(quota.level(.organization).windowTokens == 1_100)
        #expect(quota.level(.organization).windowRequests == 1)
        try await fixture.cleanUp()
    }

    /// A batch call (CallCoalescer) runs its requests one after another: each answers as it
    /// would alone, one that fails answers its error and changes nothing, and the others' counts
    /// are all written when the batch ends.
    @Test func aBatchAnswersEachRequestAndAFailingOneChangesNothing() async throws {
        let fixture = try await EngineFixture.make(userCaps: UserCaps(tpm: 100_000))
        let batch = try #require(fixture.engine.scripts.settleBatch)
        // Reserved for a user the commits do not name: each commit reads the user's subject from
        // its reservation, and the batch's later ones find it already loaded.
        for id in ["r1", "r2", "r3"] { _ = try #require(try await fixture.reserve(id, input: 100, output: 100, user: "alice").hold) }
        // r2's hold record is damaged: its commit fails inside the script, before it changes anything.
        _ = try await fixture.client.send(.keyed("HSET", fixture.keys.state(organization: "acme"), fixture.keys.holdField(id: "r2"), "damaged"))
        let requests = ["r1", "r2", "r3", "r1"].map { SettleRequest(kind: .commit, requestID: $0, usage: TokenUsage(input: 40, output: 10)) }
        let plan = try fixture.plan()
        let reply = try await fixture.client.send(QuotaEngine.batchCommand(batch, requests.map { fixture.engine.settleCommand($0, plan: plan, settings: fixture.settings) }))
        let replies = try #require(reply.array)
        #expect(replies.count == 4)
        guard replies.count == 4 else { return }
        if case .error(let message) = replies[1] { #expect(message.contains("data string too short") || message.contains("ERR"), "\(message)") } else { Issue.record("r2 answered \(replies[1])") }
        let first = try fixture.engine.decodeSettle(replies[0], request: requests[0], settings: fixture.settings)
        let third = try fixture.engine.decodeSettle(replies[2], request: requests[2], settings: fixture.settings)
        let retry = try fixture.engine.decodeSettle(replies[3], request: requests[3], settings: fixture.settings)
        #expect(first.isNew && first.settledHold && third.isNew && third.settledHold)
        #expect(!retry.isNew && retry.cost == first.cost, "the retry in the same batch is answered from the first commit's outcome")
        // Two commits of 40 + 10 tokens, and r2's hold of 200 tokens still held.
        let organization = try await fixture.quota().level(.organization)
        #expect(organization.windowTokens == 40 + 10 + 40 + 10 + 200)
        #expect(organization.windowRequests == 3)
        #expect(organization.daySpent == Money(nanos: 2 * (40 * 1_000 + 10 * 2_000)))
        #expect(try await fixture.ledger().count == 2)
        #expect(try await fixture.quota(user: "alice").level(.user).windowTokens == 40 + 10 + 40 + 10 + 200)
        // The holds settled and their index members are gone; r2's stay.
        let state = fixture.keys.state(organization: "acme"), index = fixture.keys.holds(organization: "acme")
        for (id, live) in [("r1", false), ("r2", true), ("r3", false)] {
            #expect(try await fixture.client.send(.keyed("HEXISTS", state, fixture.keys.holdField(id: id))) == .integer(live ? 1 : 0), "\(id)")
            let score = try await fixture.client.send(.keyed("ZSCORE", index, fixture.keys.holdMember(organization: "acme", id: id)))
            #expect((score != .null) == live, "\(id)")
        }
        // A commit retried after the batch is answered from the outcome the batch wrote.
        let later = try await fixture.commit("r3", TokenUsage(input: 1, output: 1))
        #expect(!later.isNew && later.cost == third.cost)
        try await fixture.cleanUp()
    }

    /// A reserve batch: a request id repeated in it is a duplicate of the hold the first wrote,
    /// and a refused request between them changes nothing.
    @Test func aReserveBatchAnswersARepeatedRequestIDFromItsFirstHold() async throws {
        let fixture = try await EngineFixture.make(limits: Limits(tpm: 1_000))
        let batch = try #require(fixture.engine.scripts.reserveBatch)
        let plan = try fixture.plan(), price = try fixture.price()
        let requests = [("r1", 300), ("r2", 900), ("r1", 300), ("r3", 200)].map {
            ReserveRequest(requestID: $0.0, model: "test-model", inputTokens: Int64($0.1), maxOutputTokens: 0)
        }
        let reply = try await fixture.client.send(QuotaEngine.batchCommand(batch, requests.map {
            fixture.engine.reserveCommand($0, plan: plan, price: price, settings: fixture.settings)
        }))
        let replies = try #require(reply.array)
        #expect(replies.count == 4)
        guard replies.count == 4 else { return }
        let decisions = try zip(requests, replies).map { try fixture.engine.decodeReserve($1, request: $0, plan: plan, price: price, settings: fixture.settings) }
        let first = try #require(decisions[0].hold)
        #expect(decisions[1].refusal?.reason == .tpm, "300 + 900 is over 1,000")
        if case .alreadyHeld(let repeated) = decisions[2] {
            #expect(repeated.expiresAt == first.expiresAt && repeated.estimatedTokens == 300)
        } else {
            Issue.record("the repeat was not answered from r1's hold: \(decisions[2])")
        }
        #expect(decisions[3].hold != nil)
        #expect(try await fixture.quota().level(.organization).windowTokens == 300 + 200)
        let index = fixture.keys.holds(organization: "acme")
        #expect(try await fixture.client.send(.keyed("ZCARD", index)) == .integer(2))
        #expect(try await fixture.client.send(.keyed("HEXISTS", fixture.keys.state(organization: "acme"), fixture.keys.holdField(id: "r1"))) == .integer(1))
        // After the batch, r1's commit settles the one hold.
        let settlement = try await fixture.commit("r1", TokenUsage(input: 100, output: 0))
        #expect(settlement.isNew && settlement.settledHold)
        #expect(try await fixture.quota().level(.organization).windowTokens == 100 + 200)
        #expect(try await fixture.client.send(.keyed("ZCARD", index)) == .integer(1))
        try await fixture.cleanUp()
    }

    @Test func retriedCommitsNeverChargeTwice() async throws {
        let fixture = try await EngineFixture.make()
        _ = try await fixture.reserve("r1", input: 100, output: 100)
        let usage = TokenUsage(input: 100, output: 50)
        // Ten concurrent commits of the same request id: exactly one charges.
        let settlements = try await withThrowingTaskGroup(of: Settlement.self) { group in
            for _ in 0..<10 { group.addTask { try await fixture.commit("r1", usage) } }
            return try await group.reduce(into: [Settlement]()) { $0.append($1) }
        }
        #expect(settlements.filter(\.isNew).count == 1)
        #expect(Set(settlements.map(\.cost)) == [.usd("0.0002")])
        let quota = try await fixture.quota()
        #expect(quota.level(.organization).daySpent == .usd("0.0002"))
        #expect(try await fixture.ledger().count == 1)
        try await fixture.cleanUp()
    }

    @Test func refusalsChangeNothing() async throws {
        let fixture = try await EngineFixture.make(limits: Limits(tpm: 1_000, rpm: 10, dailyBudget: .usd("0.01")), userCaps: UserCaps(tpm: 300))
        _ = try #require(try await fixture.reserve("a", input: 400, output: 100).hold)
        _ = try #require(try await fixture.reserve("alice-1", input: 200, output: 0, user: "alice").hold)
        let before = try await fixture.snapshot()

        // TPM: 700 held at the organisation, 600 more would exceed 1,000.
        let tpm = try #require(try await fixture.reserve("b", input: 500, output: 100).refusal)
        #expect(tpm.reason == .tpm && tpm.scope == .organization && tpm.retryAfter != nil)
        // User cap: alice has 200 of her 300 per minute.
        let user = try #require(try await fixture.reserve("c", input: 150, output: 0, user: "alice").refusal)
        #expect(user.reason == .userCap && user.scope == .user && user.limit == "tpm")
        // Too large: can never fit the TPM limit, so it is not told to retry.
        let large = try #require(try await fixture.reserve("d", input: 2_000, output: 1).refusal)
        #expect(large.reason == .tooLarge && large.retryAfter == nil && large.limit == "tpm")
        // Too large for the day's budget ($0.02 estimate, $0.01 budget) on another key.
        let dear = try #require(try await fixture.reserve("e", input: 20_000, output: 0, key: "k2").refusal)
        #expect(dear.reason == .tooLarge)
        let after = try await fixture.snapshot()
        #expect(after == before, "changed: \(after.keys.filter { after[$0] != before[$0] }) \(before.keys.filter { after[$0] == nil })")

        // The refused request ids are not burnt: a smaller retry of one is admitted.
        _ = try #require(try await fixture.reserve("b", input: 200, output: 0).hold)
        #expect(try await fixture.snapshot() != before)
        try await fixture.cleanUp()
    }

    @Test func everyLimitKindRefusesWithItsReason() async throws {
        let fixture = try await EngineFixture.make(limits: Limits(rpm: 2, dailyBudget: .usd("0.005"), monthlyTokens: 100_000))
        _ = try #require(try await fixture.reserve("a", input: 10, output: 10).hold)
        _ = try #require(try await fixture.reserve("b", input: 10, output: 10).hold)
        let rpm = try #require(try await fixture.reserve("c", input: 10, output: 10).refusal)
        #expect(rpm.reason == .rpm)
        let retry = try #require(rpm.retryAfter)
        #expect(retry > .seconds(55) && retry <= .seconds(62))

        let budgets = try await EngineFixture.make(limits: Limits(dailyBudget: .usd("0.005"), monthlyBudget: .usd("0.004")), name: "budgets")
        // $0.004 estimate fits both; a second one does not fit the month.
        _ = try #require(try await budgets.reserve("a", input: 2_000, output: 1_000).hold)
        let monthly = try #require(try await budgets.reserve("b", input: 1, output: 0).refusal)
        #expect(monthly.reason == .budgetMonthly && monthly.scope == .organization)
        let monthRetry = try #require(monthly.retryAfter)
        #expect(monthRetry > .zero && monthRetry <= .seconds(31 * 86_400))
        // An estimate above the whole daily budget is too large.
        let large = try #require(try await budgets.reserve("c", input: 6_000_000, output: 0).refusal)
        #expect(large.reason == .tooLarge && large.limit == "budget_daily")

        let tokens = try await EngineFixture.make(limits: Limits(dailyTokens: 1_000), name: "tokens")
        _ = try #require(try await tokens.reserve("a", input: 900, output: 50).hold)
        let daily = try #require(try await tokens.reserve("b", input: 40, output: 20).refusal)
        #expect(daily.reason == .budgetDaily && daily.limit == "tokens_daily")
        try await fixture.cleanUp()
        try await budgets.cleanUp()
        try await tokens.cleanUp()
    }

    @Test func keyOverridesApplyAtTheKeyLevel() async throws {
        let fixture = try await EngineFixture.make(keyOverrides: Limits(tpm: 300))
        _ = try #require(try await fixture.reserve("a", input: 200, output: 100).hold)
        let refusal = try #require(try await fixture.reserve("b", input: 1, output: 0).refusal)
        #expect(refusal.reason == .tpm && refusal.scope == .key)
        // Another key of the same workspace is not limited by k1's override.
        _ = try #require(try await fixture.reserve("c", input: 200, output: 100, key: "k2").hold)
        try await fixture.cleanUp()
    }

    @Test func retryAfterComesFromTheBuckets() async throws {
        let fixture = try await EngineFixture.make(limits: Limits(tpm: 1_000))
        // 600 tokens now, 300 tokens 20 s later (in Redis' clock as the scripts see it).
        _ = try #require(try await fixture.reserve("a", input: 600, output: 0).hold)
        let later = fixture.shifted(by: .seconds(20))
        _ = try #require(try await fixture.reserve("b", input: 300, output: 0, engine: later).hold)
        // 400 more needs the first 600 to leave: 40 to 42 s later (60 s window, 2 s buckets).
        let refusal = try #require(try await fixture.reserve("c", input: 400, output: 0, engine: later).refusal)
        let retry = try #require(refusal.retryAfter)
        #expect(retry > .seconds(38) && retry <= .seconds(42), "retry after \(retry)")
        // 100 more fits right away (900 + 100 = 1,000).
        _ = try #require(try await fixture.reserve("d", input: 100, output: 0, engine: later).hold)
        // And after the first bucket has left the window, 400 fits.
        _ = try #require(try await fixture.reserve("e", input: 400, output: 0, engine: fixture.shifted(by: .seconds(63))).hold)
        try await fixture.cleanUp()
    }

    @Test func reserveIsIdempotentByRequestId() async throws {
        let fixture = try await EngineFixture.make()
        let first = try #require(try await fixture.reserve("r1", input: 100, output: 100).hold)
        let again = try await fixture.reserve("r1", input: 100, output: 100)
        guard case .alreadyHeld(let hold) = again else { Issue.record("expected alreadyHeld, got \(again)"); return }
        #expect(hold.expiresAt == first.expiresAt && hold.estimatedCost == first.estimatedCost)
        #expect(try await fixture.quota().level(.organization).windowRequests == 1)
        _ = try await fixture.commit("r1", TokenUsage(input: 100))
        #expect(try await fixture.reserve("r1", input: 100, output: 100) == .alreadyUsed(state: "committed"))
        try await fixture.cleanUp()
    }

    @Test func releaseReturnsTheHoldExactlyOnce() async throws {
        let fixture = try await EngineFixture.make()
        let empty = try await fixture.quota()
        _ = try #require(try await fixture.reserve("r1", input: 1_000, output: 1_000).hold)
        #expect(try await fixture.release("r1") == .released(tokens: 2_000, cost: .usd("0.003")))
        #expect(try await fixture.release("r1") == .alreadyReleased)
        let quota = try await fixture.quota()
        #expect(quota.level(.organization).dayHeld == empty.level(.organization).dayHeld)
        #expect(quota.level(.organization).windowTokens == 0 && quota.level(.organization).windowRequests == 0)
        #expect(try await fixture.release("never-reserved") == .unknown)

        // A commit after a release still counts the usage: usage is never lost.
        let late = try await fixture.commit("r1", TokenUsage(input: 10))
        #expect(late.isNew && !late.settledHold && late.cost == .usd("0.00001"))
        #expect(try await fixture.release("r1") == .alreadyCommitted)
        try await fixture.cleanUp()
    }

    @Test func lateSettlementsCorrectTheReservationsBucketInAnotherRingGroup() async throws {
        // 20 s later is 10 buckets of 2 s: the reservations' slots are in another ring group
        // (8 slots) than the current one, for every windowed level at once.
        let fixture = try await EngineFixture.make(limits: Limits(tpm: 3_000))
        _ = try #require(try await fixture.reserve("a", input: 1_000, output: 500).hold)
        _ = try #require(try await fixture.reserve("b", input: 400, output: 100).hold)
        let later = fixture.shifted(by: .seconds(20))
        #expect(try await fixture.commit("a", TokenUsage(input: 800, output: 300), engine: later).settledHold)
        #expect(try await fixture.release("b", engine: later) == .released(tokens: 500, cost: .usd("0.0006")))
        let quota = try await fixture.quota(engine: later)
        let windowed = quota.levels.filter(\.windowTracked)
        #expect(!windowed.isEmpty)
        for level in windowed {
            #expect(level.windowTokens == 1_100 && level.windowRequests == 1, "\(level.level.scope)")
        }
        // The corrected bucket is what the window holds: 1,900 more fits now, one more token does not.
        _ = try #require(try await fixture.reserve("c", input: 1_900, output: 0, engine: later).hold)
        #expect(try await fixture.reserve("d", input: 1, output: 0, engine: later).refusal?.reason == .tpm)
        try await fixture.cleanUp()
    }

    @Test func holdsExpireOnlyWhenDueAndRefundOnce() async throws {
        let fixture = try await EngineFixture.make(holdSeconds: 30)
        _ = try #require(try await fixture.reserve("r1", input: 500, output: 500).hold)
        #expect(try await fixture.release("r1", mode: .expire) == .notDue)
        let later = fixture.shifted(by: .seconds(31))
        #expect(try await fixture.release("r1", mode: .expire, engine: later) == .expired(tokens: 1_000, cost: .usd("0.0015")))
        #expect(try await fixture.release("r1", mode: .expire, engine: later) == .alreadyExpired)
        #expect(try await fixture.quota().level(.organization).dayHeld == .usd("0"))
        #expect(try await fixture.client.send("ZCARD", fixture.keys.holds(organization: "acme")) == .integer(0))
        // The late commit of an expired hold is charged all the same.
        let settlement = try await fixture.commit("r1", TokenUsage(input: 100, output: 100), engine: later)
        #expect(settlement.isNew && !settlement.settledHold && settlement.cost == .usd("0.0003"))
        try await fixture.cleanUp()
    }

    @Test func budgetsRollOverAtDayAndMonthBoundaries() async throws {
        let fixture = try await EngineFixture.make(limits: Limits(dailyBudget: .usd("0.002"), monthlyBudget: .usd("1.00")))
        _ = try await fixture.record("a", TokenUsage(input: 2_000))
        let full = try #require(try await fixture.reserve("b", input: 10, output: 0).refusal)
        #expect(full.reason == .budgetDaily)
        // Time to midnight UTC, plus a second: the day budget is fresh, the month is not.
        let now = EngineFixture.now
        let toMidnight = Duration.milliseconds(86_400_000 - now % 86_400_000 + 1_000)
        let tomorrow = fixture.shifted(by: toMidnight)
        _ = try #require(try await fixture.reserve("c", input: 10, output: 0, engine: tomorrow).hold)
        let quota = try await fixture.quota(engine: tomorrow)
        #expect(quota.level(.organization).daySpent == .usd("0"))
        let sameMonth = PeriodCalendar(timezone: TimeZone(identifier: "UTC")!).resets(after: now).month > now + toMidnight.components.seconds * 1_000
        #expect(quota.level(.organization).monthSpent == (sameMonth ? .usd("0.002") : .usd("0")))
        try await fixture.cleanUp()
    }

    @Test func recordCountsEvenOverTheLimitAndSaysSo() async throws {
        let fixture = try await EngineFixture.make(limits: Limits(tpm: 1_000, dailyBudget: .usd("0.001")))
        let settlement = try await fixture.record("r1", TokenUsage(input: 1_500, output: 100))
        #expect(settlement.isNew && !settlement.settledHold)
        #expect(settlement.cost == .usd("0.0017"))
        #expect(Set(settlement.overLimits) == ["o:tpm", "o:budget_daily"])
        #expect(try await fixture.quota().level(.organization).windowTokens == 1_600)
        try await fixture.cleanUp()
    }

    @Test func aUserIdWithAPipeNeverSharesAnotherUsersRingGroup() async throws {
        // `u:alice|<g>` is the field of alice's ring group g; users `alice|<g>` must have fields
        // of their own. One of the 16 is the group alice's window is writing now.
        let fixture = try await EngineFixture.make(userCaps: UserCaps(tpm: 300))
        let lookalikes = (0..<16).map { "alice|\($0)" }
        _ = try #require(try await fixture.reserve("a1", input: 200, output: 0, user: "alice").hold)
        for (index, user) in lookalikes.enumerated() {
            _ = try #require(try await fixture.reserve("p\(index)", input: 250, output: 0, user: user).hold)
        }
        #expect(try await fixture.quota(user: "alice").level(.user).windowTokens == 200)
        for user in lookalikes {
            #expect(try await fixture.quota(user: user).level(.user).windowTokens == 250, "\(user)")
        }
        let refused = try #require(try await fixture.reserve("a2", input: 150, output: 0, user: "alice").refusal)
        #expect(refused.reason == .userCap)
        // The users behind the counters, without ring-group fields mistaken for users.
        #expect(try await fixture.engine.users(organization: "acme").sorted() == (["alice"] + lookalikes).sorted())
        try await fixture.cleanUp()
    }

    @Test func theLedgerEntryCarriesTheWholeStory() async throws {
        let fixture = try await EngineFixture.make(userCaps: UserCaps(tpm: 5_000))
        _ = try await fixture.engine.reserve(
            ReserveRequest(requestID: "r1", model: "test-model-2025-01-01", inputTokens: 100, maxOutputTokens: 50, user: "alice", feature: "chat", session: "s1",
                           experiment: "prompt-b"),
            plan: fixture.plan(user: "alice"), price: fixture.price("test-model-2025-01-01"), settings: fixture.settings)
        _ = try await fixture.engine.settle(
            SettleRequest(kind: .commit, requestID: "r1", usage: TokenUsage(input: 90, cachedInput: 10, output: 40, reasoning: 5), format: .openAIChat, latencyMillis: 1234, cacheHit: false),
            plan: fixture.plan(), settings: fixture.settings)
        let entries = try await fixture.ledger()
        #expect(entries.count == 1)
        let entry = try #require(entries.first)
        #expect(entry.kind == .commit && entry.requestID == "r1")
        #expect([entry.organization, entry.workspace, entry.key, entry.user, entry.feature, entry.session, entry.experiment]
                == ["acme", "web", "k1", "alice", "chat", "s1", "prompt-b"])
        #expect([entry.tier, entry.model, entry.provider, entry.usageFormat, entry.priceVersion] == ["standard", "test-model", "test", "openai_chat", "test-model@1"])
        #expect(entry.usage == TokenUsage(input: 90, cachedInput: 10, output: 40, reasoning: 5))
        #expect(entry.estimatedTokens == 150 && entry.latencyMillis == 1234 && entry.cacheHit == false && entry.overLimits.isEmpty)
        // 90 × 1000 + 10 × 500 + 40 × 2000 + 5 × 2000 nanos
        #expect(entry.costNanos == 185_000)
        #expect(entry.at >= entry.reservedAt && entry.reservedAt > 0)
        // The user's cap was settled from the hold even though the commit did not name the user.
        let quota = try await fixture.quota(user: "alice")
        #expect(quota.level(.user).windowTokens == 145)
        try await fixture.cleanUp()
    }

    @Test func ledgerLinesAndRollUpFieldsWithoutAnExperimentStillRead() throws {
        // A line written before the experiment column existed (26 columns).
        let old = ["1", "record", "r9", "acme", "1700000000000", "0", "0", "5", "0", "0", "0", "0", "5000", "-1", "-1", "", "",
                   "test-model", "test", "test-model@1", "alice", "chat", "s1", "standard", "k1", "web"].joined(separator: "\t")
        let entry = try #require(LedgerEntry(id: "1-0", line: old))
        #expect(entry.experiment == "" && entry.workspace == "web" && entry.costNanos == 5000)
        let rows = RollupReader.rows([("web\tk1\tm\talice\tchat\tcost", 7), ("web\tk1\tm\talice\tchat\tb\tcost", 9), ("web\tk1\tm\talice\tchat\tb\trequests", 1)])
        #expect(rows[RollupDimensions(workspace: "web", key: "k1", model: "m", user: "alice", feature: "chat")]?.costNanos == 7)
        let variant = try #require(rows[RollupDimensions(workspace: "web", key: "k1", model: "m", user: "alice", feature: "chat", experiment: "b")])
        #expect(variant.costNanos == 9 && variant.requests == 1)
    }

    @Test func luaAndSwiftAgreeOnEveryCost() async throws {
        let fixture = try await EngineFixture.make(limits: .none)
        var generator = SystemRandomNumberGenerator()
        for index in 0..<200 {
            let prices = TokenPrices(
                input: Int64.random(in: 0...TokenPrices.maximumPerMillion, using: &generator),
                output: Int64.random(in: 0...5_000_000_000, using: &generator),
                cachedInput: Int64.random(in: 0...999_999, using: &generator),
                cacheWrite: index.isMultiple(of: 2) ? nil : Int64.random(in: 0...20_000_000_000, using: &generator),
                reasoning: index.isMultiple(of: 3) ? nil : 1)
            let usage = TokenUsage(
                input: Int64.random(in: 0...(index < 10 ? TokenUsage.maximumPerClass : 100_000), using: &generator),
                cachedInput: Int64.random(in: 0...50_000, using: &generator), cacheWrite: Int64.random(in: 0...7, using: &generator),
                output: Int64.random(in: 0...(index < 10 ? TokenUsage.maximumPerClass : 10_000), using: &generator),
                reasoning: Int64.random(in: 0...3_333, using: &generator))
            let price = ResolvedPrice(model: "m\(index)", provider: "p", prices: prices, versionID: "m\(index)@1")
            let settlement = try await fixture.record("r\(index)", usage, price: price)
            #expect(settlement.cost.nanos == prices.cost(of: usage), "prices \(prices) usage \(usage)")
        }
        try await fixture.cleanUp()
    }

    @Test func moneyCountersStayExactBeyondTwoToThe53Nanos() async throws {
        // $1,000,000 budget a day is 10^15 nanos; thirty $1M-ish requests pass 2^53 (9.007 × 10^15).
        let fixture = try await EngineFixture.make(limits: Limits(monthlyBudget: .usd("100000000")))
        let dear = ResolvedPrice(model: "dear", provider: "p", prices: TokenPrices(input: 9_999_999_999_999, output: 7), versionID: "dear@1")
        var expected: Int64 = 0
        for index in 0..<30 {
            let usage = TokenUsage(input: 99_999_989 + Int64(index), output: 3)
            let settlement = try await fixture.record("r\(index)", usage, price: dear)
            expected += dear.prices.cost(of: usage)
            #expect(settlement.cost.nanos == dear.prices.cost(of: usage))
        }
        #expect(expected > 1 << 53)
        let quota = try await fixture.quota()
        #expect(quota.level(.organization).monthSpent.nanos == expected)
        #expect(quota.level(.key).daySpent.nanos == expected)
        try await fixture.cleanUp()
    }

    @Test func budgetComparisonsAreExactAtTheEdge() async throws {
        // Budget exactly 10,000,000.000000001 units (past 2^53 nanos): spend up to it to the nano.
        let fixture = try await EngineFixture.make(limits: Limits(monthlyBudget: .usd("10000000.000000001")))
        let unit = ResolvedPrice(model: "unit", provider: "p", prices: TokenPrices(input: 1_000, output: 1_000), versionID: "unit@1")
        let dear = ResolvedPrice(model: "dear", provider: "p", prices: TokenPrices(input: 10_000_000_000_000, output: 0), versionID: "dear@1")
        for index in 0..<10 {
            // 100,000,000 tokens at 10,000 units per 1M = 1,000,000 units each.
            _ = try await fixture.record("d\(index)", TokenUsage(input: 100_000_000), price: dear)
        }
        // Now exactly 10,000,000 units are spent and 1 nano remains: a 1,000-nano estimate is refused...
        let refusal = try await fixture.reserve("over", input: 1, output: 0)
        #expect(refusal.refusal?.reason == .budgetMonthly)
        // ...and a 1-nano usage (1,000 tokens at 0.001 per 1M) fills the budget exactly, not over it.
        let settlement = try await fixture.record("fill", TokenUsage(input: 1_000), price: unit)
        #expect(settlement.cost.nanos == 1)
        #expect(settlement.overLimits == [])
        let quota = try await fixture.quota()
        #expect(quota.level(.organization).monthSpent == .usd("10000000.000000001"))
        let overflow = try await fixture.record("one-more", TokenUsage(input: 1_000), price: unit)
        #expect(overflow.overLimits == ["o:budget_monthly"])
        try await fixture.cleanUp()
    }

    @Test func unknownModelsAreRefusedUnlessTheTierHasAFallback() throws {
        var configuration = try EngineFixtureConfiguration.basic()
        let plan = try configuration.plan(apiKey: "k1", at: EngineFixture.now)
        #expect(throws: PlanError.self) { try configuration.price("gpt-99", for: plan, at: EngineFixture.now) }
        do {
            let price = try configuration.price("gpt-99", for: plan, at: EngineFixture.now)
            Issue.record("an unknown model was priced: \(price.versionID)")
        } catch {
            #expect(error.kind == .unknownModel)
        }
        configuration.tiers["standard"]?.fallbackPrice = try TokenPrices(input: "30", output: "60")
        let fallback = try configuration.plan(apiKey: "k1", at: EngineFixture.now)
        let price = try configuration.price("gpt-99", for: fallback, at: EngineFixture.now)
        #expect(price.versionID == "fallback@standard" && price.prices.input == 30_000_000_000)
    }

    @Test func everyKeyOfARequestSharesOneSlot() {
        for partitions in [1, 16, 64, 1_024] {
            let keys = KeyLayout(prefix: "tg", partitions: partitions)
            var used = Set<Int>()
            for index in 0..<500 {
                let organization = "org-\(index)-\(UInt32.random(in: 0...UInt32.max))"
                let request = "req-\(UUID().uuidString)"
                let requestKeys = keys.requestKeys(organization: organization, id: request)
                #expect(KeyLayout.sameSlot(requestKeys))
                let partition = keys.partition(of: organization)
                #expect((0..<partitions).contains(partition))
                // The request's slot is its organisation's partition's slot, and a fresh layout
                // (another gateway) puts the organisation in the same partition.
                #expect(HashSlot(key: requestKeys[0]) == HashSlot(key: keys.tag(partition) + ":x"))
                #expect(KeyLayout(prefix: "other", partitions: partitions).partition(of: organization) == partition)
                used.insert(partition)
            }
            // Organisations spread over the partitions: 500 random ones leave (almost) none
            // empty up to 64 partitions, and reach about 395 of 1,024.
            let least = [1: 1, 16: 16, 64: 60, 1_024: 300][partitions] ?? 1
            #expect(used.count >= least, "\(used.count) of \(partitions) partitions used")
        }
        // Pinned: the partition of an organisation is part of the data layout in Redis; a
        // different hash would strand every existing counter.
        #expect(KeyLayout(prefix: "tg", partitions: 16).partition(of: "acme") == 15)
        #expect(KeyLayout(prefix: "tg", partitions: 1_024).partition(of: "acme") == 431)
    }
}

enum EngineFixtureConfiguration {
    static func basic() throws -> TollgateConfiguration {
        TollgateConfiguration(
            pricing: PriceCatalogue([ModelPricing(model: "test-model", provider: "test", versions: [PriceVersion(version: 1, effectiveFrom: 0, prices: EngineFixture.prices)])]),
            tiers: [EngineFixture.standardTier(.none)],
            organizations: [Organization(id: "acme", tier: "standard")],
            workspaces: [Workspace(id: "web", organization: "acme")],
            keys: [APIKey(id: "k1", workspace: "web")])
    }
}
