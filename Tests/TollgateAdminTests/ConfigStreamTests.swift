import Foundation
import RedisTestSupport
import Testing
import TollgateCore
import TollgateRedis

/// `config export --stream` / `config import` of the streamed form: round trips, bad input,
/// and an import that stops halfway.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct ConfigStreamTests {
    /// A streamed file: the document `config export --stream` writes for `cli`'s deployment
    /// (without its customer lines), then `organizations` organisations of tier `pro`, each with
    /// a workspace and a key, as lines.
    static func streamedFile(header cli: CLI, organizations: Int, name: String) async throws -> (path: String, text: String) {
        let exported = try await cli.ok(["config", "export", "--stream"])
        let header = exported.range(of: "\n{\"").map { String(exported[..<$0.lowerBound]) + "\n" } ?? exported
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func line(_ entity: CustomerEntity) throws -> String { String(decoding: try encoder.encode(entity), as: UTF8.self) + "\n" }
        let ids = (1...max(1, organizations)).map { String(format: "o%06d", $0) }.prefix(organizations)
        var text = header
        for id in ids { text += try line(.organization(Organization(id: id, tier: "pro"))) }
        for id in ids { text += try line(.workspace(Workspace(id: "w" + id, organization: id))) }
        for id in ids { text += try line(.key(APIKey(id: "k" + id, workspace: "w" + id))) }
        let path = try RedisServer.makeTemporaryDirectory() + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, text)
    }

    @Test func streamedExportImportExportIsIdentical() async throws {
        let (cli, redis) = try await CLI.make()
        try await CLITests.setUpCustomer(cli)
        try await cli.ok(["token", "create", "t1", "--org", "acme"])
        try await cli.ok(["org", "create", "beta", "--tier", "pro"])
        try await cli.ok(["workspace", "create", "beta-ws", "--org", "beta", "--tier", "pro"])
        try await cli.ok(["key", "create", "beta-k", "--workspace", "beta-ws", "--daily-budget", "1.50"])
        try await cli.ok(["key", "suspend", "beta-k"])
        let first = try await cli.ok(["config", "export", "--stream"])
        #expect(first.contains("\n{\"organization\":{\"id\":\"acme\"") && first.contains("\n{\"token\":{"))
        let file = try RedisServer.makeTemporaryDirectory() + "/config.tollgate"
        try first.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await cli.ok(["config", "check", file]).hasPrefix("ok: 1 models, 1 tiers, 2 organizations, 2 workspaces, 2 keys"))

        // Into a fresh deployment and out again, in both forms.
        let (other, _) = try await CLI.make(name: "streamedExportImportExportIsIdentical-copy")
        try await other.ok(["config", "import", file])
        #expect(try await other.ok(["config", "export", "--stream"]) == first)
        #expect(try await other.ok(["config", "export"]) == (try await cli.ok(["config", "export"])))

        // Today's YAML document imports into a third, and streams out the same.
        let yaml = file + ".yaml"
        try (try await cli.ok(["config", "export"])).write(toFile: yaml, atomically: true, encoding: .utf8)
        let (third, _) = try await CLI.make(name: "streamedExportImportExportIsIdentical-third")
        try await third.ok(["config", "import", yaml])
        #expect(try await third.ok(["config", "export", "--stream"]) == first)

        // Importing over a deployment with other customers removes them (and their children).
        try await other.ok(["org", "create", "gone", "--tier", "pro"])
        try await other.ok(["workspace", "create", "gone-ws", "--org", "gone"])
        try await other.ok(["key", "create", "gone-k", "--workspace", "gone-ws"])
        let dryRun = try await other.ok(["config", "import", file, "--dry-run"])
        #expect(dryRun.contains("it would remove 1 organizations, 1 workspaces, 1 keys, 0 tokens"), "\(dryRun)")
        try await other.ok(["config", "import", file])
        #expect(try await other.ok(["config", "export", "--stream"]) == first)

        // A file that gives a stored token's hash to a token of another id replaces it.
        let tokenLine = try #require(first.split(separator: "\n").first { $0.hasPrefix("{\"token\":") })
        let tokenID = try #require(tokenLine.firstMatch(of: /"id":"([^"]+)"/)?.1)
        let renamed = first.replacingOccurrences(of: "\"id\":\"\(tokenID)\"", with: "\"id\":\"tok_renamed\"")
        let renamedFile = file + ".renamed"
        try renamed.write(toFile: renamedFile, atomically: true, encoding: .utf8)
        try await other.ok(["config", "import", renamedFile])
        #expect(try await other.ok(["config", "export", "--stream"]) == renamed)
        for prefix in [cli.prefix, other.prefix, third.prefix] { try await redis.deleteKeys(prefix: prefix + ":") }
        await redis.shutdown()
    }

    @Test func badInputIsRefusedBeforeAnythingIsWritten() async throws {
        let (cli, redis) = try await CLI.make()
        try await CLITests.setUpCustomer(cli)
        // 1,200 good organisations first (more than one write batch), then the bad line.
        let (good, text) = try await Self.streamedFile(header: cli, organizations: 1_200, name: "good.tollgate")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let firstCustomer = try #require(lines.firstIndex { $0.hasPrefix("{\"organization\"") })
        let organizationsEnd = firstCustomer + 1_200
        func variant(_ name: String, _ edit: (inout [String]) -> Void) throws -> String {
            var copy = lines
            edit(&copy)
            let path = good + "." + name
            try copy.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let cases: [(String, String)] = [
            (try variant("truncated") { $0.insert("{\"organization\":{\"id\":\"zz\"", at: organizationsEnd) }, "not complete"),
            (try variant("unknown-tier") { $0.insert("{\"organization\":{\"id\":\"o9\",\"tier\":\"gold\"}}", at: organizationsEnd) }, "unknown tier 'gold'"),
            (try variant("orphan") { $0.insert("{\"workspace\":{\"id\":\"w9\",\"organization\":\"nobody\"}}", at: organizationsEnd) }, "unknown organization 'nobody'"),
            (try variant("order") { $0.insert("{\"key\":{\"id\":\"k0\",\"workspace\":\"wo000001\"}}", at: firstCustomer + 5) }, "out of order"),
            (try variant("twice") { $0.insert($0[firstCustomer + 3], at: firstCustomer + 3) }, "out of order"),
            (try variant("two-kinds") { $0.insert("{\"organization\":{\"id\":\"o9\",\"tier\":\"pro\"},\"key\":{\"id\":\"k\",\"workspace\":\"w\"}}", at: organizationsEnd) }, "exactly one"),
            (try variant("not-object") { $0.insert("[1,2]", at: organizationsEnd) }, "expected a JSON object"),
            (try variant("bad-id") { $0.insert("{\"organization\":{\"id\":\"o 9\",\"tier\":\"pro\"}}", at: organizationsEnd) }, "the id must be"),
            (try variant("currency") { $0[0...firstCustomer - 1] = ["{\"settings\":{\"currency\":\"XXX\"}}"] }, "currency"),
        ]
        let before = try await cli.ok(["config", "export", "--stream"])
        let version = try await cli.version(redis)
        let audit = try await redis.send("XLEN", "\(cli.prefix):{cfg}:audit").int
        for (path, expected) in cases {
            let check = try await cli.run(["config", "check", path])
            #expect(check.status == 64 && check.errors.contains(expected), "check \(path): \(check.status) \(check.errors)")
            let result = try await cli.run(["config", "import", path])
            #expect(result.status == 64, "\(path): \(result.status) \(result.errors)")
            #expect(result.errors.hasPrefix("error: ") && result.errors.contains(expected), "\(path): \(result.errors)")
            #expect(try await cli.version(redis) == version, "\(path) changed the configuration")
        }
        #expect(try await cli.ok(["config", "export", "--stream"]) == before)
        #expect(try await redis.send("XLEN", "\(cli.prefix):{cfg}:audit").int == audit)
        // The good file itself goes in.
        try await cli.ok(["config", "import", good])
        #expect(try await CustomerStore(redis: redis, keys: KeyLayout(prefix: cli.prefix)).count(.key) == 1_200)
        try await redis.deleteKeys(prefix: cli.prefix + ":")
        await redis.shutdown()
    }

    @Test func anImportStoppedHalfwaySaysWhatItWroteAndARerunFinishesIt() async throws {
        let server = try await RedisServer.start()
        let client = server.client()
        do {
            let cli = CLI(redisURL: server.url, prefix: "half")
            try await cli.ok(["tier", "set", "pro", "--tpm", "1000"])
            let (file, text) = try await Self.streamedFile(header: cli, organizations: 5_000, name: "big.tollgate")
            // Redis refuses writes once it holds ~1 MB more than now: a real fault part-way
            // through (5,000 organisations with workspaces and keys need several MB).
            let used = try #require(try await client.send("INFO", "memory").string?.split(separator: "\r\n")
                .first { $0.hasPrefix("used_memory:") }.flatMap { Int($0.dropFirst("used_memory:".count)) })
            _ = try await client.send("CONFIG", "SET", "maxmemory", String(used + 1_000_000))
            let stopped = try await cli.run(["config", "import", file])
            #expect(stopped.status != 0)
            #expect(stopped.errors.contains("config import stopped") && stopped.errors.contains("run the same import again"), "\(stopped.errors)")
            // What it says it wrote is what Redis holds.
            let store = CustomerStore(redis: client, keys: KeyLayout(prefix: "half"))
            let organizations = try await store.count(.organization)
            #expect(organizations > 0 && organizations < 5_000, "\(organizations) organizations stored")
            #expect(stopped.errors.contains("customers stored: \(organizations) of 5000 organizations"), "\(stopped.errors)")
            // With room again, the same import finishes it.
            _ = try await client.send("CONFIG", "SET", "maxmemory", "0")
            try await cli.ok(["config", "import", file])
            let exported = try await cli.ok(["config", "export", "--stream"])
            #expect(exported == text)
        } catch {
            await client.shutdown()
            await server.stop()
            throw error
        }
        await client.shutdown()
        await server.stop()
    }
}
