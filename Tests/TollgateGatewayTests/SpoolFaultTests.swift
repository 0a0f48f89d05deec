import Foundation
import Glibc
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOHTTP1
import RedisTestSupport
import Synchronization
import Testing
import TollgateCore
@testable import TollgateGateway
import TollgateRedis

/// Spools under real faults: real gateway processes, real Redis crashes, a real full disk.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .serialized)
struct SpoolFaultTests {
    static let cost = Money(nanos: 1_000_000)  // 1,000 input tokens at $1 per 1M

    static func record(_ id: String) -> String {
        #"{"request_id":"\#(id)","api_key":"k1","model":"test-model","usage":{"input_tokens":1000,"output_tokens":0,"total_tokens":1000}}"#
    }

    static func organizationSpent(_ node: GatewayProcess, key: String = "k1") async throws -> String? {
        let quota = try await node.get("/v1/quota/\(key)")
        guard case .array(let levels) = quota.json?["levels"] else { return nil }
        return levels.first { $0["scope"]?.stringValue == "organization" }?["daily_budget"]?["spent"]?.stringValue
    }

    /// Whether a spool and its replay file are both empty (or gone).
    static func isEmpty(_ spool: String) -> Bool {
        let size = (try? FileManager.default.attributesOfItem(atPath: spool)[.size] as? Int) ?? 0
        return size == 0 && !FileManager.default.fileExists(atPath: spool + ".replaying")
    }

    @Test func twoGatewaysFromOneDirectoryWithDefaultsEachOwnTheirSpool() async throws {
        let url = try await TestRedis.url()
        let redis = try await TestRedis.client()
        let prefix = uniquePrefix()
        try await MultiNodeTests.writeConfiguration(GatewayFixture.configuration(), redis: redis, prefix: prefix)
        let directory = try RedisServer.makeTemporaryDirectory()
        let nodes = [try await GatewayProcess(redisURL: url, prefix: prefix, name: nil, directory: directory),
                     try await GatewayProcess(redisURL: url, prefix: prefix, name: nil, directory: directory)]
        #expect(nodes[0].spool != nodes[1].spool)
        for node in nodes { #expect(FileManager.default.fileExists(atPath: node.spool + ".lock"), "\(node.spool).lock") }

        // A third gateway pointed at the first one's spool refuses to start, in one sentence.
        let third = try ChildProcess(try ChildProcess.executable("tollgate"), [
            "serve", "--redis", url, "--prefix", prefix, "--port", String(try RedisServer.freeLoopbackPort()),
            "--spool", nodes[0].spool, "--log-level", "error",
        ], separateErrors: true, directory: directory)
        #expect(await third.wait(timeout: .seconds(30)) == 78)
        let errors = third.errors.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(errors.split(separator: "\n").count == 1, "\(errors)")
        #expect(errors.contains(nodes[0].spool) && errors.contains("--spool") && errors.contains("pid \(nodes[0].process.pid)"), "\(errors)")
        // Both still serve.
        for node in nodes { #expect(try await node.post("/v1/record", Self.record("r-\(node.port)")).status == .ok) }
        for node in nodes { #expect(await node.terminate() == 0) }
        try await redis.deleteKeys(prefix: prefix + ":")
        await redis.shutdown()
    }

    @Test func aKilledGatewaysSpoolIsDrainedByTheNextServeAndBySpoolReplay() async throws {
        let server = try await RedisServer.start(.init(appendOnly: true))
        let redis = server.client(timeout: .seconds(1))
        let prefix = uniquePrefix()
        try await MultiNodeTests.writeConfiguration(GatewayFixture.configuration(standard: Limits(tpm: 100_000_000)), redis: redis, prefix: prefix)
        let directory = try RedisServer.makeTemporaryDirectory()

        // 1. Spooled, then SIGKILL: the next `serve` with that spool replays it.
        var node = try await GatewayProcess(redisURL: server.url, prefix: prefix, name: "a", directory: directory)
        await server.stop()
        for index in 0..<5 { #expect(try await node.post("/v1/record", Self.record("a\(index)")).status == .accepted) }
        node.process.signal(SIGKILL)
        _ = await node.process.wait(timeout: .seconds(10))
        // (The replayer may have moved some aside for a replay attempt meanwhile.)
        #expect(SpoolTests.lines(node.spool).count + SpoolTests.lines(node.spool + ".replaying").count == 5)
        try await server.restart()
        node = try await GatewayProcess(redisURL: server.url, prefix: prefix, name: "a", directory: directory)
        let deadline = ContinuousClock.now + .seconds(15)
        while try await MultiNodeTests.ledger(redis, prefix: prefix).count < 5 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await MultiNodeTests.ledger(redis, prefix: prefix).count == 5)

        // 2. Spooled, then SIGKILL, and the node is not coming back: `tollgate spool replay`.
        await server.stop()
        for index in 0..<5 { #expect(try await node.post("/v1/record", Self.record("b\(index)")).status == .accepted) }
        node.process.signal(SIGKILL)
        _ = await node.process.wait(timeout: .seconds(10))
        try await server.restart()
        let copy = node.spool + ".copy"
        try FileManager.default.copyItem(atPath: node.spool, toPath: copy)
        let cli = ["spool", "replay", "--redis", server.url, "--prefix", prefix, node.spool]
        let replay = try ChildProcess(try ChildProcess.executable("tollgate"), cli, separateErrors: true, directory: directory)
        #expect(await replay.wait(timeout: .seconds(30)) == 0, "\(replay.errors)")
        #expect(replay.output.contains("5 entries applied") && replay.output.contains("removed"), "\(replay.output)")
        #expect(!FileManager.default.fileExists(atPath: node.spool) && !FileManager.default.fileExists(atPath: node.spool + ".lock"))

        // Replaying the same entries again charges nothing twice.
        try FileManager.default.moveItem(atPath: copy, toPath: node.spool)
        let again = try ChildProcess(try ChildProcess.executable("tollgate"), cli, separateErrors: true, directory: directory)
        #expect(await again.wait(timeout: .seconds(30)) == 0, "\(again.errors)")
        let entries = try await MultiNodeTests.ledger(redis, prefix: prefix)
        #expect(entries.count == 10)
        #expect(Set(entries.map(\.requestID)) == Set((0..<5).flatMap { ["a\($0)", "b\($0)"] }))

        // A spool that a running gateway owns is refused.
        node = try await GatewayProcess(redisURL: server.url, prefix: prefix, name: "a", directory: directory)
        let refused = try ChildProcess(try ChildProcess.executable("tollgate"), cli, separateErrors: true, directory: directory)
        #expect(await refused.wait(timeout: .seconds(30)) == 65)
        #expect(refused.errors.contains("in use") && refused.errors.contains("pid \(node.process.pid)"), "\(refused.errors)")
        #expect(try await Self.organizationSpent(node) == Money(nanos: Self.cost.nanos * 10).decimalString)
        #expect(await node.terminate() == 0)
        await redis.shutdown()
        await server.stop()
    }

    /// Issue 17's scenario: two gateways from one directory with defaults, reserve + commit
    /// from 8 clients over both, Redis (AOF, appendfsync everysec) killed with SIGKILL and
    /// restarted on the same files 2 s later. Half the clients use a key whose tier fails
    /// open, so reservations go on during the outage and their commits go to the spools.
    @Test func redisKilledUnderReserveAndCommitTrafficLosesNothingAcknowledged() async throws {
        let server = try await RedisServer.start(.init(appendOnly: true, extraArguments: ["--appendfsync", "everysec"]))
        let redis = server.client(timeout: .seconds(1))
        let prefix = uniquePrefix()
        try await MultiNodeTests.writeConfiguration(GatewayFixture.configuration(standard: Limits(tpm: 100_000_000)), redis: redis, prefix: prefix)
        let directory = try RedisServer.makeTemporaryDirectory()
        let nodes = [try await GatewayProcess(redisURL: server.url, prefix: prefix, name: nil, directory: directory),
                     try await GatewayProcess(redisURL: server.url, prefix: prefix, name: nil, directory: directory)]
        let killAt = ContinuousClock.now + .seconds(1.5)
        let restartAt = killAt + .seconds(2)
        let endAt = restartAt + .seconds(2.5)
        // (request id, commit status; 0 when the call itself failed)
        let commits = try await withThrowingTaskGroup(of: [(String, UInt)].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var commits: [(String, UInt)] = []
                    var index = 0
                    let key = worker / 2 % 2 == 0 ? "k1" : "g1"
                    while ContinuousClock.now < endAt && index < 5_000 {
                        index += 1
                        let id = "w\(worker)-\(key)-\(index)"
                        let reserve = try? await nodes[worker % 2].post("/v1/reserve",
                            #"{"request_id":"\#(id)","api_key":"\#(key)","model":"test-model","input_tokens":1000,"max_output_tokens":0}"#)
                        guard reserve?.status == .ok else {
                            try await Task.sleep(for: .milliseconds(20))
                            continue
                        }
                        // Committed through the other node, naming the model as app servers should.
                        let commit = try? await nodes[(worker + 1) % 2].post("/v1/commit",
                            #"{"request_id":"\#(id)","api_key":"\#(key)","model":"test-model","usage":{"input_tokens":1000,"output_tokens":0,"total_tokens":1000}}"#)
                        commits.append((id, commit?.status.code ?? 0))
                    }
                    return commits
                }
            }
            group.addTask {
                try await Task.sleep(until: killAt)
                await server.crash()
                try await Task.sleep(until: restartAt)
                try await server.restart()
                return []
            }
            return try await group.reduce(into: [(String, UInt)]()) { $0 += $1 }
        }
        let acknowledged = Set(commits.filter { $0.1 == 200 || $0.1 == 202 }.map(\.0))
        #expect(commits.contains { $0.1 == 202 }, "some commits went to a spool: \(Set(commits.map(\.1)))")
        #expect(commits.contains { $0.1 == 200 })

        // Both spools drain; then every acknowledged commit is in the ledger exactly once.
        let deadline = ContinuousClock.now + .seconds(20)
        while !nodes.allSatisfy({ Self.isEmpty($0.spool) }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(nodes.allSatisfy { Self.isEmpty($0.spool) }, "spools drained")
        let ids = try await MultiNodeTests.ledger(redis, prefix: prefix).map(\.requestID)
        #expect(Set(ids).count == ids.count, "\(ids.count - Set(ids).count) ledger entries twice")
        let missing = acknowledged.subtracting(ids)
        #expect(missing.isEmpty, "\(missing.count) of \(acknowledged.count) acknowledged commits missing, e.g. \(missing.prefix(5))")
        #expect(Set(ids).isSubset(of: Set(commits.map(\.0))))
        print("redis kill: \(commits.count) commits, \(acknowledged.count) acknowledged (\(commits.filter { $0.1 == 202 }.count) spooled), \(ids.count) in the ledger")
        // The counters agree with the ledger: nothing was charged twice.
        for key in ["k1", "g1"] {
            let count = Int64(ids.filter { $0.contains("-\(key)-") }.count)
            #expect(try await Self.organizationSpent(nodes[0], key: key) == Money(nanos: Self.cost.nanos * count).decimalString, "\(key)")
        }
        for node in nodes { #expect(await node.terminate() == 0) }
        await redis.shutdown()
        await server.stop()
    }

    /// A full disk: a tmpfs mount of 48 KiB holds the spool.
    @Test(.enabled(if: geteuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true", "mounting a tmpfs needs root"))
    func aFullDiskAnswers503WithALogLineAndLosesNothingAcknowledged() async throws {
        let mountPoint = try RedisServer.makeTemporaryDirectory()
        let mounted = "size=48k,mode=0700".withCString { mount("tmpfs", mountPoint, "tmpfs", 0, $0) }
        try #require(mounted == 0, "mount -t tmpfs failed: \(String(cString: strerror(errno)))")
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        let server = try await RedisServer.start(.init(appendOnly: true))
        let logs = LogCapture()
        let fixture = try await GatewayFixture.make(server: server, gatewayConfiguration: GatewayConfiguration(breakerFailureThreshold: 2, breakerCooldown: .milliseconds(300)),
                                                    spoolPath: mountPoint + "/spool.jsonl", logger: logs.logger)
        await server.stop()
        let (acknowledged, refusals) = try await fixture.run { client in
            var acknowledged: [String] = []
            var refusals = 0
            for index in 0..<2_000 where refusals < 3 {
                let response = try await client.execute(uri: "/v1/record", method: .post, headers: GatewayFixture.headers(),
                                                        body: GatewayFixture.body(Self.record("d\(index)"))) { $0 }
                switch response.status {
                case .accepted:
                    acknowledged.append("d\(index)")
                case .serviceUnavailable:
                    refusals += 1
                    #expect(response.errorCode == "spool_unavailable")
                    #expect(response.json?["error"]?["message"]?.stringValue?.contains("cannot be written") == true)
                    #expect(response.headers[.retryAfter] == "1")
                default:
                    Issue.record("unexpected \(response.status)")
                    refusals = 3
                }
            }
            return (acknowledged, refusals)
        }
        #expect(refusals == 3)
        #expect(acknowledged.count > 20, "the disk filled after \(acknowledged.count) entries")
        #expect(logs.lines.contains { $0.contains("spool append failed") && $0.contains("No space left on device") }, "\(logs.lines.suffix(3))")
        #expect(fixture.gateway.spool.depth == acknowledged.count)

        // Redis returns: everything acknowledged is applied once; nothing refused is.
        try await server.restart()
        let replayer = SpoolReplayer(gateway: fixture.gateway)
        let deadline = ContinuousClock.now + .seconds(15)
        while fixture.gateway.spool.depth > 0 && ContinuousClock.now < deadline {
            await replayer.replayOnce()
            try await Task.sleep(for: .milliseconds(100))
        }
        let ids = try await MultiNodeTests.ledger(fixture.client, prefix: fixture.prefix).map(\.requestID)
        #expect(ids.count == acknowledged.count)
        #expect(Set(ids) == Set(acknowledged))
        try await fixture.cleanUp()
        await server.stop()
    }
}

/// Log lines kept in memory, for tests that check what was logged.
final class LogCapture: Sendable {
    private let storage = Mutex<[String]>([])

    var lines: [String] { storage.withLock { $0 } }

    var logger: Logger {
        Logger(label: "tollgate.test") { _ in Handler(capture: self) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let text = "\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
            capture.storage.withLock { $0.append(text) }
        }
    }
}
