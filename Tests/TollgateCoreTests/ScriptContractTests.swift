import Foundation
import RedisTestSupport
import Testing
@testable import TollgateCore
import TollgateRedis

/// The contract between Swift and the Lua scripts: names, reply shapes, the ledger's columns,
/// and the cost function both sides compute.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct ScriptContractTests {
    @Test(arguments: ["common", "reserve", "settle", "release", "quota", "adjust"])
    func everyContractNameAScriptUsesIsDefined(_ name: String) throws {
        let constant = try Regex(#"\b(?:N|RN|SN|L|S|H|O|A|LC|LIMIT|OUTCOME|RESERVE|SETTLE|RELEASE|LEDGER|LEVEL|SUBJECT|HOLD|ATTRIBUTION)_[A-Z_]+\b"#)
        let source = try QuotaScripts.source(name)
        let used = Set(source.matches(of: constant).map { String(source[$0.range]) })
        #expect(!used.isEmpty)
        // After expansion only LIMIT_KINDS (a table the library defines) is left by name.
        let expanded = ScriptContract.expand(source)
        let left = Set(expanded.matches(of: constant).map { String(expanded[$0.range]) })
        #expect(left.subtracting(["LIMIT_KINDS"]).isEmpty, "\(name).lua uses undefined \(left.subtracting(["LIMIT_KINDS"]).sorted())")
    }

    @Test func replyShapesTheEngineDoesNotExpectAreErrors() async throws {
        let fixture = try await EngineFixture.make(userCaps: UserCaps(tpm: 100))
        let plan = try fixture.plan(user: "alice")
        let request = ReserveRequest(requestID: "r", model: "test-model", inputTokens: 1)
        let headers: [RedisReply] = [.integer(-1), .integer(-1), .integer(0), .integer(-1), .integer(-1), .integer(0)]
        func reserve(_ parts: [RedisReply]) throws(EngineError) -> ReserveDecision {
            try fixture.engine.decodeReserve(.array(parts), request: request, plan: plan, price: try! fixture.price(), settings: fixture.settings)
        }
        func refused(_ limit: String, level: Int64) -> [RedisReply] {
            [.integer(0), .bulk(Array(limit.utf8)), .integer(level), .integer(1_000), .integer(0)] + headers
        }
        // The good shapes decode...
        let refusal = try reserve(refused("tpm", level: 4))
        #expect(refusal == .limited(LimitRefusal(reason: .userCap, limit: "tpm", scope: .user, retryAfter: .seconds(1)), .unlimited))
        #expect(try reserve([.integer(2), .bulk(Array("c".utf8)), .integer(0), .integer(0), .bulk(Array("0".utf8)), .integer(0)])
                == .alreadyUsed(state: "committed"))
        // ...and every other shape is an error, not a default.
        let bad: [[RedisReply]] = [
            refused("tokens_weekly", level: 1),  // unknown limit
            refused("tpm", level: 0), refused("tpm", level: 5),  // level out of range
            Array(refused("tpm", level: 1).dropLast()),  // one short
            refused("tpm", level: 1) + [.integer(0)],  // one too many
            [.integer(7)] + headers,  // unknown status
            [.integer(1), .bulk(Array("soon".utf8)), .integer(1), .integer(1), .integer(1)] + headers,  // not a number
            [.integer(2), .bulk(Array("Q".utf8)), .integer(0), .integer(0), .bulk(Array("0".utf8)), .integer(0)],  // unknown state
        ]
        for parts in bad {
            #expect(throws: EngineError.self, "\(parts)") { try reserve(parts) }
        }
        let settle = SettleRequest(kind: .commit, requestID: "r", usage: TokenUsage(input: 1))
        #expect(throws: EngineError.self) {
            try fixture.engine.decodeSettle(.array([.integer(1), .bulk(Array("5".utf8))]), request: settle, settings: fixture.settings)
        }
        #expect(throws: EngineError.self) { try fixture.engine.decodeSettle(.integer(1), request: settle, settings: fixture.settings) }
        try await fixture.cleanUp()
    }

    @Test func ledgerLinesRoundTripThroughTheColumnDefinition() throws {
        let line = LedgerColumn.line([.kind: "commit", .requestID: "r1", .organization: "acme", .at: "1700000000000", .input: "12", .reasoning: "3",
                                      .cost: "99", .cacheHit: "1", .overLimits: "o:tpm,u:budget_daily", .model: "m", .experiment: "b"])
        let entry = try #require(LedgerEntry(id: "1-0", line: line))
        #expect(entry.line == line)
        #expect(entry.usage == TokenUsage(input: 12, reasoning: 3) && entry.cacheHit == true && entry.latencyMillis == nil)
        #expect(entry.overLimits == ["o:tpm", "u:budget_daily"] && entry.experiment == "b" && entry.model == "m")
        // A line we do not know is refused, not read as zeros.
        #expect(LedgerEntry(id: "1-0", line: LedgerColumn.line([.kind: "commit", .cost: "a lot"])) == nil)
        #expect(LedgerEntry(id: "1-0", line: LedgerColumn.line([.kind: "refund"])) == nil)
        #expect(LedgerEntry(id: "1-0", line: LedgerColumn.line([.format: "2", .kind: "commit"])) == nil)
        #expect(LedgerEntry(id: "1-0", line: "1\tcommit\tr1") == nil)
    }

    @Test func luaAndSwiftAgreeOnEveryEstimate() async throws {
        let fixture = try await EngineFixture.make(limits: .none)
        var generator = SystemRandomNumberGenerator()
        for index in 0..<150 {
            let prices = TokenPrices(
                input: Int64.random(in: 0...TokenPrices.maximumPerMillion, using: &generator),
                output: Int64.random(in: 0...TokenPrices.maximumPerMillion, using: &generator),
                reasoning: index.isMultiple(of: 2) ? nil : Int64.random(in: 0...TokenPrices.maximumPerMillion, using: &generator))
            let price = ResolvedPrice(model: "test-model", provider: "test", prices: prices, versionID: "m\(index)@1")
            let input = Int64.random(in: 0...(index < 10 ? TokenUsage.maximumPerClass : 100_000), using: &generator)
            let output = Int64.random(in: 0...(index < 10 ? TokenUsage.maximumPerClass : 10_000), using: &generator)
            let decision = try await fixture.engine.reserve(ReserveRequest(requestID: "e\(index)", model: "test-model", inputTokens: input, maxOutputTokens: output),
                                                            plan: fixture.plan(), price: price, settings: fixture.settings)
            let hold = try #require(decision.hold)
            #expect(hold.estimatedCost.nanos == prices.estimatedCost(input: input, output: output), "prices \(prices) input \(input) output \(output)")
        }
        try await fixture.cleanUp()
    }
}
