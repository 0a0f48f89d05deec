import Foundation
import Glibc
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateGateway

/// The spool file on its own: ownership, counters, group commit, replay bookkeeping.
@Suite struct SpoolTests {
    static func entry(_ id: String, at time: Int64 = 1_000) -> SpoolEntry {
        SpoolEntry(operation: .record, requestID: id, apiKey: "k1", usage: TokenUsage(input: 10, output: 0), model: "test-model", spooledAt: time)
    }

    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Waits for the background count of an existing spool.
    static func depth(of spool: Spool, reaching expected: Int) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(5)
        while spool.depth != expected && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        return spool.depth
    }

    @Test func concurrentAppendsAreEachKeptOnceAndCountedInMemory() async throws {
        let path = try RedisServer.makeTemporaryDirectory() + "/spool.jsonl"
        do {
            let spool = try Spool(path: path, limitBytes: 1 << 20)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<200 {
                    group.addTask { try await spool.append(Self.entry("r\(index)", at: 5_000 - Int64(index))) }
                }
                try await group.waitForAll()
            }
            #expect(spool.status == Spool.Status(depth: 200, oldestSpooledAt: 4_801))
        }
        let ids = Self.lines(path).map { try? SpoolEntry(line: Array($0.utf8)).requestID }
        #expect(Set(ids.compactMap { $0 }) == Set((0..<200).map { "r\($0)" }))
        #expect(ids.count == 200)
        // The next owner (once the last queued block let go of the first) counts what it finds.
        var reopened: Spool?
        let deadline = ContinuousClock.now + .seconds(5)
        while reopened == nil && ContinuousClock.now < deadline {
            reopened = try? Spool(path: path, limitBytes: 1 << 20)
            if reopened == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let spool = try #require(reopened)
        #expect(try await Self.depth(of: spool, reaching: 200) == 200)
        #expect(spool.status.oldestSpooledAt != nil)
    }

    @Test func aSecondOwnerIsRefusedWithOneSentenceNamingTheFileAndTheHolder() async throws {
        let path = try RedisServer.makeTemporaryDirectory() + "/spool.jsonl"
        let first = try Spool(path: path, limitBytes: 1 << 20)
        let error = try #require(throws: SpoolError.self) { try Spool(path: path, limitBytes: 1 << 20) }
        #expect(error.code == .inUse)
        #expect(error.description.contains(path) && error.description.contains("pid \(getpid())"),
                "\(error.description)")
        withExtendedLifetime(first) {}
    }

    @Test func aSpoolThatCannotBeCreatedIsRefusedNamingTheFile() async throws {
        let path = try RedisServer.makeTemporaryDirectory() + "/missing/spool.jsonl"
        let error = try #require(throws: SpoolError.self) { try Spool(path: path, limitBytes: 1 << 20) }
        #expect(error.code == .cannotOpen)
        #expect(error.description.contains(path), "\(error.description)")
    }

    @Test func aFullSpoolRefusesWithoutWritingAndKeepsWhatItHas() async throws {
        let path = try RedisServer.makeTemporaryDirectory() + "/spool.jsonl"
        let line = try Self.entry("r0").line().count
        let spool = try Spool(path: path, limitBytes: line * 3 + line / 2)
        for index in 0..<3 { try await spool.append(Self.entry("r\(index)")) }
        let error = await #expect(throws: SpoolError.self) { try await spool.append(Self.entry("r3")) }
        #expect(error?.code == .full)
        #expect(Self.lines(path).count == 3)
        #expect(spool.depth == 3)
    }

    @Test func replayGoesInOrderCountsDownAndSetsDeadLettersApart() async throws {
        let path = try RedisServer.makeTemporaryDirectory() + "/spool.jsonl"
        let spool = try Spool(path: path, limitBytes: 1 << 20)
        for index in 0..<4 { try await spool.append(Self.entry("r\(index)", at: 1_000 + Int64(index))) }
        var seen: [(String, Spool.Status)] = []
        let report = try await spool.replay { entry in
            seen.append((entry.requestID, spool.status))
            // New calls meanwhile go to a fresh spool.
            if entry.requestID == "r1" { try? await spool.append(Self.entry("new", at: 9_000)) }
            return entry.requestID == "r2" ? .deadLetter(reason: "gone") : .applied
        }
        #expect(seen.map(\.0) == ["r0", "r1", "r2", "r3"])
        #expect(seen.map(\.1.depth) == [4, 3, 3, 2])
        #expect(seen.map(\.1.oldestSpooledAt) == [1_000, 1_001, 1_002, 1_003])
        #expect(report == SpoolReplayReport(entries: 4, applied: 3, deadLettered: 1))
        #expect(spool.status == Spool.Status(depth: 1, oldestSpooledAt: 9_000))
        #expect(access(spool.replayingPath, F_OK) != 0)
        let dead = Self.lines(spool.deadLetterPath)
        #expect(dead.count == 1 && dead[0].contains("\"r2\"") && dead[0].hasSuffix(" # gone"))
    }

    @Test func anInterruptedReplayStartsOverFromItsOwnFileFirst() async throws {
        let path = try RedisServer.makeTemporaryDirectory() + "/spool.jsonl"
        let spool = try Spool(path: path, limitBytes: 1 << 20)
        for index in 0..<3 { try await spool.append(Self.entry("r\(index)")) }
        let first = try await spool.replay { $0.requestID == "r1" ? .stop(reason: "down") : .applied }
        #expect(first.applied == 1 && first.interruption == "down")
        #expect(spool.depth == 2)
        try await spool.append(Self.entry("later"))
        var order: [String] = []
        _ = try await spool.replay { order.append($0.requestID); return .applied }
        _ = try await spool.replay { order.append($0.requestID); return .applied }
        // Idempotent settling makes the repeat of r0 harmless.
        #expect(order == ["r0", "r1", "r2", "later"])
        #expect(spool.depth == 0)
    }

    @Test func anEmptyReplayFileLeftBehindIsFinishedAndDoesNotBlockTheSpool() async throws {
        let path = try RedisServer.makeTemporaryDirectory() + "/spool.jsonl"
        #expect(FileManager.default.createFile(atPath: path + ".replaying", contents: Data()))
        let spool = try Spool(path: path, limitBytes: 1 << 20)
        try await spool.append(Self.entry("waiting"))
        var order: [String] = []
        _ = try await spool.replay { order.append($0.requestID); return .applied }
        _ = try await spool.replay { order.append($0.requestID); return .applied }
        #expect(order == ["waiting"])
        #expect(spool.depth == 0 && access(spool.replayingPath, F_OK) != 0)
    }

    @Test func aLineCutShortByACrashIsSetApartAndTheNextEntryIsWhole() async throws {
        let path = try RedisServer.makeTemporaryDirectory() + "/spool.jsonl"
        var text = try Self.entry("whole").line()
        text.append(contentsOf: Array(#"{"operation":"record","request_id":"cut"#.utf8))
        try text.write(to: URL(fileURLWithPath: path))
        let spool = try Spool(path: path, limitBytes: 1 << 20)
        try await spool.append(Self.entry("after"))
        var order: [String] = []
        let report = try await spool.replay { order.append($0.requestID); return .applied }
        #expect(order == ["whole", "after"])
        #expect(report.unreadable == 1)
        #expect(Self.lines(spool.deadLetterPath).first?.hasSuffix("# unreadable spool line") == true)
    }

    @Test(arguments: [("gateway", 8081, "tollgate-spool-8081.jsonl"), ("eu-1", 8080, "tollgate-spool-eu-1.jsonl"),
                      ("../a b", 8080, "tollgate-spool-.._a_b.jsonl")])
    func theDefaultSpoolIsPerNode(node: String, port: Int, expected: String) {
        #expect(GatewayConfiguration.defaultSpoolPath(node: node, port: port) == expected)
        #expect(GatewayConfiguration(port: port, nodeName: node).spoolPath == expected)
    }
}
