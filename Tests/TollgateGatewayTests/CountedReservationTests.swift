import Foundation
import NIOHTTP1
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis
import TollgateTokenizer

/// Many clients over two `tollgate serve` processes, each call really using ~200 input
/// tokens while its client believes 8. When clients send their own estimate, the limits are
/// overshot (the problem the issue measured); when they send the messages, the gateway counts
/// them and reserves `max_output_tokens` for output, so a reservation is an upper bound of the
/// usage and neither the TPM limit nor the budget is exceeded.
/// Part of the serialized `MultiNodeTests`, so that the two multi-process loads never overlap.
extension MultiNodeTests {
    static let countedTPMLimit: Int64 = 10_000
    static let countedBudget = try! Money(decimal: "0.05")
    static let countedMaxOutput: Int64 = 20

    static func countedConfiguration() -> TollgateConfiguration {
        var configuration = GatewayFixture.configuration()
        configuration.pricing = PriceCatalogue([ModelPricing(model: "test-model", provider: "openai", versions: [
            PriceVersion(version: 1, effectiveFrom: 0, prices: try! TokenPrices(input: "5.00", output: "10.00")),
        ], tokenizer: .exact(.o200kBase))])
        configuration.tiers = [
            "tpm": Tier(name: "tpm", limits: Limits(tpm: countedTPMLimit), defaultOutputTokens: countedMaxOutput, failureMode: .closed),
            "budget": Tier(name: "budget", limits: Limits(dailyBudget: countedBudget), defaultOutputTokens: countedMaxOutput, failureMode: .closed),
        ]
        configuration.organizations = ["acme": Organization(id: "acme", tier: "tpm"), "globex": Organization(id: "globex", tier: "budget")]
        configuration.workspaces = ["web": Workspace(id: "web", organization: "acme"), "apps": Workspace(id: "apps", organization: "globex")]
        configuration.keys = ["k1": APIKey(id: "k1", workspace: "web"), "g1": APIKey(id: "g1", workspace: "apps")]
        return configuration
    }

    static let countedPrompt = String(repeating: "Summarise the quarterly report for the board, highlighting risks. ", count: 16)

    @Test(arguments: [false, true])
    func gatewayCountingPreventsOvershoot(gatewayCounts: Bool) async throws {
        let url = try await TestRedis.url()
        let redis = try await TestRedis.client()
        let prefix = uniquePrefix("counted\(gatewayCounts)")
        try await MultiNodeTests.writeConfiguration(Self.countedConfiguration(), redis: redis, prefix: prefix)
        let nodes = [try await GatewayProcess(redisURL: url, prefix: prefix, name: "a"),
                     try await GatewayProcess(redisURL: url, prefix: prefix, name: "b")]
        let messages = #"[{"role":"system","content":"You are a careful analyst."},{"role":"user","content":"\#(Self.countedPrompt)"}]"#
        // What the provider bills for these messages (OpenAI's chat rule, o200k_base).
        guard case .array(let list) = try JSONValue.parse(messages) else { throw HarnessError("messages are not an array") }
        let actualInput = try PromptCounter(choice: .exact(.o200kBase), model: "gpt-4o").count(.messages(list, system: nil, tools: [])).tokens
        #expect(actualInput > 150)
        // Each gateway loads its rank file on its first count, which a debug build on a busy
        // machine can stretch past the whole load window: count once on each before the clock.
        for node in nodes {
            let warm = try await node.post("/v1/tokens/count", #"{"model":"test-model","messages":\#(messages)}"#)
            #expect(warm.status == .ok, "\(warm.json.map { "\($0)" } ?? "")")
        }
        let deadline = ContinuousClock.now + .seconds(6)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<32 {
                group.addTask {
                    let key = worker % 2 == 0 ? "k1" : "g1"
                    var index = 0, refusals = 0
                    while ContinuousClock.now < deadline, refusals < 5 {
                        index += 1
                        let id = "c\(worker)-\(index)"
                        let input = gatewayCounts ? #""messages":\#(messages)"# : #""input_tokens":8"#
                        let reply = try await nodes[worker % 2].post("/v1/reserve",
                            #"{"request_id":"\#(id)","api_key":"\#(key)","model":"test-model",\#(input),"max_output_tokens":\#(Self.countedMaxOutput)}"#)
                        guard reply.status == .ok else {
                            #expect(reply.status == .tooManyRequests, "\(reply.json.map { "\($0)" } ?? "")")
                            refusals += 1
                            try await Task.sleep(for: .milliseconds(20))
                            continue
                        }
                        let commit = try await nodes[(worker + 1) % 2].post("/v1/commit", #"""
                            {"request_id":"\#(id)","api_key":"\#(key)","usage":{"prompt_tokens":\#(actualInput),"completion_tokens":\#(Self.countedMaxOutput),"total_tokens":\#(actualInput + Self.countedMaxOutput)}}
                            """#)
                        #expect(commit.status == .ok)
                    }
                }
            }
            try await group.waitForAll()
        }
        let entries = try await MultiNodeTests.ledger(redis, prefix: prefix)
        let tokens = entries.filter { $0.organization == "acme" }.reduce(0) { $0 + $1.usage.total }
        let spent = entries.filter { $0.organization == "globex" }.reduce(0) { $0 + $1.costNanos }
        // Everything ran within one 60-second window and one day.
        if gatewayCounts {
            #expect(tokens <= Self.countedTPMLimit, "TPM overshoot: \(tokens) tokens against \(Self.countedTPMLimit)")
            #expect(spent <= Self.countedBudget.nanos, "budget overshoot: \(Money(nanos: spent).decimalString)")
            #expect(tokens > Self.countedTPMLimit - 2 * (actualInput + Self.countedMaxOutput), "the load reached the TPM limit (\(tokens))")
            #expect(spent > Self.countedBudget.nanos / 2, "the load reached the budget (\(spent))")
        } else {
            #expect(tokens > Self.countedTPMLimit, "client estimates far below usage overshoot the TPM limit (\(tokens))")
            #expect(spent > Self.countedBudget.nanos, "client estimates far below usage overshoot the budget (\(spent))")
        }
        for node in nodes { #expect(await node.terminate() == 0) }
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }
}
