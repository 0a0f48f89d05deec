import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateGateway
import TollgateRedis

/// The call journal: calls left open by a dead owner become `recovered` commits of the
/// prompt plus the output marked, and a gateway really killed mid-stream is billed by its
/// successor.
@Suite struct CallJournalTests {
    static func entry(_ id: String, prompt: Int64) -> SpoolEntry {
        SpoolEntry(operation: .commit, requestID: id, apiKey: "k1", usage: TokenUsage(input: prompt), format: .recovered, model: "test-model",
                   provider: "openai", priceVersion: "test-model@1", prices: [1_000_000_000, 500_000_000, 0, 2_000_000_000, 2_000_000_000],
                   user: "u1", spooledAt: 1_700_000_000_000)
    }

    /// Spool lines as entries.
    static func spooled(_ spool: Spool) throws -> [SpoolEntry] {
        let data = try Data(contentsOf: URL(fileURLWithPath: spool.path))
        return try data.split(separator: UInt8(ascii: "\n")).map { try SpoolEntry(line: $0) }
    }

    @Test func openCallsBecomeRecoveredCommitsOfPromptAndMarkedOutput() async throws {
        let directory = try RedisServer.makeTemporaryDirectory()
        let spoolPath = directory + "/spool.jsonl"
        do {
            let dead = try CallJournal(spoolPath: spoolPath)
            dead.begin(Self.entry("streaming", prompt: 40))
            dead.begin(Self.entry("settled", prompt: 30))
            dead.begin(Self.entry("waiting", prompt: 20))
            dead.relayed("streaming", output: 5)
            dead.relayed("streaming", output: 9)
            dead.relayed("settled", output: 3)
            dead.end("settled")
            dead.relayed("unknown", output: 7)
            #expect(dead.openCalls == 2)
        }
        // The next owner: the spool's lock, then the journal moved aside and recovered.
        let spool = try Spool(path: spoolPath, limitBytes: 1 << 20)
        let journal = try CallJournal(spoolPath: spoolPath)
        #expect(FileManager.default.fileExists(atPath: journal.orphanedPath))
        #expect(try await journal.recover(into: spool) == 2)
        #expect(!FileManager.default.fileExists(atPath: journal.orphanedPath), "recovered once, then gone")
        let entries = try Self.spooled(spool)
        #expect(entries.map(\.requestID) == ["streaming", "waiting"])
        #expect(entries.map { $0.usage } == [TokenUsage(input: 40, output: 9), TokenUsage(input: 20)])
        #expect(entries.allSatisfy { $0.format == .recovered && $0.operation == .commit && $0.user == "u1" && $0.prices?.count == 5 })
        #expect(try await journal.recover(into: spool) == 0, "nothing left to recover twice")
        #expect(journal.openCalls == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: journal.path)).isEmpty, "the new journal starts empty")
    }

    @Test func theHandWrittenBeginLineDecodesToTheSameEntry() throws {
        var entry = Self.entry("id \"quoted\"\n", prompt: 12)
        entry.feature = "fé\tature"
        entry.experiment = "b"
        entry.usage = TokenUsage(input: 12, cachedInput: 3, cacheWrite: 2, output: 1, reasoning: 4)
        #expect(try SpoolEntry(journalBegin: entry.journalBeginLine.dropLast()) == entry)
    }

    @Test func aCallWithAnEmptyPromptIsNeverRecoveredAsZero() throws {
        let line = try JSONEncoder().encode(Self.entry("empty", prompt: 0))
        let calls = CallJournal.openCalls(in: Data("b ".utf8) + line + Data("\nb {\"cut\":".utf8))
        #expect(calls.map(\.usage) == [TokenUsage(input: 1)], "a torn line is skipped; an empty prompt still bills a token")
    }

    @Test func compactionKeepsOnlyTheOpenCalls() async throws {
        let directory = try RedisServer.makeTemporaryDirectory()
        let spoolPath = directory + "/spool.jsonl"
        do {
            let dead = try CallJournal(spoolPath: spoolPath, compactionBytes: 4_096)
            for index in 0..<500 {
                dead.begin(Self.entry("c\(index)", prompt: 10))
                dead.relayed("c\(index)", output: Int64(index))
                if index % 100 != 7 { dead.end("c\(index)") }
            }
            let size = try FileManager.default.attributesOfItem(atPath: dead.path)[.size] as? Int ?? .max
            #expect(size < 4_096 + 2_000, "rewritten with the open calls once past the limit (\(size) bytes)")
            #expect(dead.openCalls == 5)
        }
        let spool = try Spool(path: spoolPath, limitBytes: 1 << 20)
        let journal = try CallJournal(spoolPath: spoolPath)
        #expect(try await journal.recover(into: spool) == 5)
        let entries = try Self.spooled(spool).sorted { $0.usage!.output < $1.usage!.output }
        #expect(entries.map(\.requestID) == ["c7", "c107", "c207", "c307", "c407"])
        #expect(entries.map { $0.usage!.output } == [7, 107, 207, 307, 407])
    }
}

/// A real gateway process, SIGKILLed in the middle of a stream from a real (mock) provider:
/// the gateway started next on the same spool commits the call from the journal.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct KilledGatewayTests {
    static let mockScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Scripts/checks/mock_provider.py").path

    @Test func aStreamCutByKillingTheGatewayIsBilledByItsSuccessor() async throws {
        let url = try await TestRedis.url()
        let redis = try await TestRedis.client()
        let prefix = uniquePrefix("killed")
        let keys = KeyLayout(prefix: prefix, partitions: Settings().partitions)
        try await MultiNodeTests.writeConfiguration(GatewayFixture.configuration(), redis: redis, prefix: prefix)
        let mockPort = try RedisServer.freeLoopbackPort()
        let python = ProcessInfo.processInfo.environment["TOLLGATE_PYTHON"] ?? "/usr/bin/python3"
        let mock = try ChildProcess(python, [Self.mockScript, String(mockPort)])
        let directory = try RedisServer.makeTemporaryDirectory()
        let secrets = directory + "/upstreams.json"
        try Data(#"{"openai": {"base_url": "http://127.0.0.1:\#(mockPort)/v1", "api_key": "sk-mock"}}"#.utf8).write(to: URL(fileURLWithPath: secrets))
        let spool = directory + "/spool.jsonl"
        var successor: GatewayProcess?
        defer {
            mock.signal(SIGKILL)
            successor?.process.signal(SIGKILL)
        }
        let gateway = try await GatewayProcess(redisURL: url, prefix: prefix, name: "doomed", spool: spool, extra: ["--upstream-secrets", secrets])

        // 200 words, one every 30 ms: the kill lands a few hundred ms in.
        var request = HTTPClientRequest(url: gateway.base + "/v1/chat/completions")
        request.method = .POST
        for (name, value) in [("Authorization", "Bearer \(gateway.token)"), ("Content-Type", "application/json"),
                              ("x-tollgate-api-key", "k1"), ("x-tollgate-request-id", "killed-1")] {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(string: #"""
            {"model":"test-model","stream":true,"max_tokens":400,"messages":[{"role":"user","content":"mock:output=200 mock:delay_ms=30 tell me a long story"}]}
            """#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status == .ok)
        var seen = 0
        var text = ""
        do {
            for try await chunk in response.body {
                text += String(buffer: chunk)
                seen = text.components(separatedBy: #""content": "w"#).count - 1
                if seen >= 10 {
                    gateway.process.signal(SIGKILL)
                    break
                }
            }
        } catch {
            // The connection dies with the gateway.
        }
        #expect(await gateway.process.wait(timeout: .seconds(10)) == 128 + SIGKILL)
        #expect(seen >= 10, "the stream was under way when the gateway died")
        #expect(try await redis.send("XLEN", keys.ledger(organization: "acme")).int == 0, "the dead gateway billed nothing")
        #expect(try await redis.send("ZCARD", keys.holds(organization: "acme")).int == 1, "its hold is still live")

        // Its successor takes the spool, finds the call open in the journal and commits it.
        successor = try await GatewayProcess(redisURL: url, prefix: prefix, name: "successor", spool: spool, extra: ["--upstream-secrets", secrets])
        var entries: [LedgerEntry] = []
        let deadline = ContinuousClock.now + .seconds(5) + schedulingSlack
        while entries.isEmpty, ContinuousClock.now < deadline {
            entries = try await MultiNodeTests.ledger(redis, prefix: prefix, partitions: Settings().partitions)
            if entries.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        let entry = try #require(entries.first, "the successor committed the call")
        #expect(entries.count == 1)
        #expect(entry.requestID == "killed-1" && entry.usageFormat == UsageFormat.recovered.rawValue)
        #expect(entry.usage.input > 0, "the prompt as counted")
        // Each relayed word counts at least one token; the last word may have reached the
        // client a moment before its mark was written.
        #expect(entry.usage.output >= Int64(seen - 1) && entry.usage.output < 200, "output relayed so far: \(entry.usage.output), client saw \(seen)")
        #expect(entry.costNanos > 0)
        #expect(try await redis.send("ZCARD", keys.holds(organization: "acme")).int == 0, "the hold was settled, not left to expire")
        #expect(!FileManager.default.fileExists(atPath: spool + ".calls.orphaned"))

        #expect(await successor?.terminate() == 0)
        successor = nil
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }
}
