import Foundation
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// `price set --tokenizer`, `tokens count` and `usage accuracy`, through the real executable.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"))
struct TokenCLITests {
    @Test func priceSetStoresTheTokenizer() async throws {
        let (cli, redis) = try await CLI.make()
        try await cli.ok(["price", "set", "gpt-4o", "--provider", "openai", "--input", "2.50", "--output", "10.00"])
        #expect(try await cli.configuration(redis).pricing.entry(named: "gpt-4o")?.tokenizer.description == "o200k_base")
        try await cli.ok(["price", "set", "gpt-4o", "--tokenizer", "estimate:1.5"])
        let entry = try #require(try await cli.configuration(redis).pricing.entry(named: "gpt-4o"))
        #expect(entry.tokenizer.description == "estimate:1.50")
        #expect(entry.versions.count == 1, "changing only the tokenizer adds no price version")
        // A later price change keeps the tokenizer.
        try await cli.ok(["price", "set", "gpt-4o", "--input", "2.00", "--output", "8.00"])
        #expect(try await cli.configuration(redis).pricing.entry(named: "gpt-4o")?.tokenizer.description == "estimate:1.50")
        #expect(try await cli.ok(["price", "list"]).contains("estimate:1.50"))
        let version = try await cli.version(redis)
        for bad in [["price", "set", "gpt-4o", "--tokenizer", "p50k_base"], ["price", "set", "gpt-4o", "--tokenizer", "estimate:9"],
                    ["price", "set", "new-model", "--provider", "x", "--tokenizer", "o200k_base"], ["price", "set", "gpt-4o", "--input", "1.00"]] {
            let result = try await cli.run(bad)
            #expect(result.status != 0, "\(bad)")
            #expect(!result.errors.isEmpty, "\(bad)")
        }
        #expect(try await cli.version(redis) == version, "refused changes change nothing")
        try await redis.deleteKeys(prefix: cli.prefix + ":")
        await redis.shutdown()
    }

    @Test func tokensCountCountsFilesAsTheGatewayDoes() async throws {
        let (cli, redis) = try await CLI.make()
        let directory = try RedisServer.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let chat = directory + "/chat.json", text = directory + "/notes.txt"
        try #"{"messages":[{"role":"system","content":"You are a helpful assistant that can answer to questions about the weather."},{"role":"user","content":"What's the weather like in San Francisco?"}]}"#
            .write(toFile: chat, atomically: true, encoding: .utf8)
        try "The quick brown fox jumps over the lazy dog.".write(toFile: text, atomically: true, encoding: .utf8)
        let counted = try JSONValue.parse(try await cli.ok(["tokens", "count", "--model", "gpt-4o", chat]))
        #expect(counted["tokenizer"]?.stringValue == "o200k_base")
        #expect(counted["exact"] == .bool(true))
        #expect(try JSONValue.parse(try await cli.ok(["tokens", "count", "--model", "gpt-4", text]))["input_tokens"]?.integerValue == 10)
        #expect(try JSONValue.parse(try await cli.ok(["tokens", "count", "--model", "claude-sonnet-4", text]))["input_tokens"]?.integerValue == 13)
        #expect(try await cli.run(["tokens", "count", "--model", "gpt-4o", directory + "/missing.txt"]).status != 0)
        #expect(try await cli.run(["tokens", "count", "--model", "gpt-4o", "--tokenizer", "bogus", text]).status != 0)
        await redis.shutdown()
    }

    @Test func usageAccuracyReportsEstimateErrorsFromTheLedger() async throws {
        let (cli, redis) = try await CLI.make()
        try await cli.ok(["price", "set", "gpt-4o", "--provider", "openai", "--input", "2.50", "--output", "10.00"])
        let keys = KeyLayout(prefix: cli.prefix)
        // (model, feature, estimated, input, output): errors +25 %, −20 % for gpt-4o; 0 for o3.
        let entries: [(String, String, Int, Int, Int)] = [("gpt-4o", "chat", 100, 60, 20), ("gpt-4o", "search", 100, 100, 25), ("o3", "chat", 200, 150, 50)]
        for (index, entry) in entries.enumerated() {
            let line = LedgerColumn.line([.kind: "commit", .requestID: "r\(index)", .organization: "acme", .at: "1700000001000", .reservedAt: "1700000000000",
                                          .estimatedTokens: String(entry.2), .input: String(entry.3), .output: String(entry.4), .cost: "1000",
                                          .usageFormat: "openai_chat", .model: entry.0, .provider: "openai", .priceVersion: "\(entry.0)@1",
                                          .feature: entry.1, .tier: "standard", .key: "k1", .workspace: "web"])
            _ = try await redis.send("XADD", keys.ledger(partition: index % 3), "*", "e", line)
        }
        // A record (no reservation) is not an estimate.
        _ = try await redis.send("XADD", keys.ledger(partition: 0), "*", "e",
                                 LedgerColumn.line([.kind: "record", .requestID: "x", .organization: "acme", .at: "1", .input: "5", .output: "5", .cost: "1",
                                                    .usageFormat: "openai_chat", .model: "o3", .provider: "openai", .priceVersion: "o3@1",
                                                    .tier: "standard", .key: "k1", .workspace: "web"]))
        let rows = try JSONValue.parse(try await cli.ok(["usage", "accuracy", "--by", "model", "--json"]))
        guard case .array(let list) = rows else { Issue.record("not a JSON array"); return }
        let gpt = try #require(list.first { $0["model"]?.stringValue == "gpt-4o" })
        #expect(gpt["settled"]?.stringValue == "2" || gpt["settled"]?.integerValue == 2)
        #expect(gpt["mean_error"]?.stringValue == "2.5%")
        #expect(gpt["p50_abs_error"]?.stringValue == "20.0%")
        #expect(gpt["p95_abs_error"]?.stringValue == "25.0%")
        #expect(gpt["under_estimates"]?.stringValue == "50.0%")
        let o3 = try #require(list.first { $0["model"]?.stringValue == "o3" })
        #expect(o3["mean_error"]?.stringValue == "0.0%")
        let byFeature = try await cli.ok(["usage", "accuracy", "--by", "feature"])
        #expect(byFeature.contains("search") && byFeature.contains("TOTAL"))
        #expect(try await cli.run(["usage", "accuracy", "--by", "user"]).status != 0)
        try await redis.deleteKeys(prefix: cli.prefix + ":")
        await redis.shutdown()
    }
}
