import Foundation
import RedisTestSupport
import Testing
@testable import TollgateRedis

@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct ClientIntegrationTests {
    @Test func repliesMatchRequestsWith64TasksOnTwoConnections() async throws {
        let server = try await RedisServer.start()
        var configuration = server.configuration(connections: 2)
        configuration.clientName = "shared-by-64"
        let client = RedisClient(configuration: configuration, logger: .quiet)
        let prefix = uniquePrefix()
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for task in 0..<64 {
                group.addTask {
                    var wrong = 0
                    for round in 0..<200 {
                        let payload = "\(prefix):\(task):\(round)"
                        if (try? await client.send("ECHO", payload).string) != payload { wrong += 1 }
                        let counter = try? await client.send(.keyed("INCR", "\(prefix):n:\(task)")).int
                        if counter != Int64(round + 1) { wrong += 1 }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)

        // The 64 tasks shared the two connections this client opened, and commands that
        // queued up while a batch was in flight went out together.
        // Counted by name, so that nothing else dialling this port can change the count.
        let clients = try await client.send("CLIENT", "LIST").string ?? ""
        let ours = clients.split(separator: "\n").filter { $0.contains(" name=shared-by-64 ") }
        #expect(ours.count == 2, "\(clients)")
        let statistics = client.statistics
        #expect(statistics.commands >= 64 * 400)
        #expect(statistics.writes < statistics.commands / 2, "average batch \(statistics.averageBatch)")
        await client.shutdown()
        await server.stop()
    }

    @Test func pipelineReturnsRepliesInOrderWithErrorsInPlace() async throws {
        let server = try await SharedRedis.server()
        let client = server.client()
        let key = uniquePrefix() + ":k"
        let results = await client.pipeline([
            .keyed("SET", key, "text"),
            .keyed("INCR", key),
            .keyed("GET", key),
            RedisCommand("NOSUCHCOMMAND"),
            .keyed("DEL", key),
        ])
        #expect(results.count == 5)
        #expect(try results[0].get() == .status("OK"))
        #expect(throws: RedisError.self) { try results[1].get() }
        #expect(try results[2].get().string == "text")
        if case .failure(let error) = results[3] {
            #expect(error.prefix == "ERR")
            #expect(error.delivery == .answered)
        } else {
            Issue.record("expected an error reply")
        }
        #expect(try results[4].get() == .integer(1))
        await client.shutdown()
    }

    @Test func reloadsScriptsAfterFlushSingleAndPipelined() async throws {
        let server = try await RedisServer.start()
        let client = server.client()
        let script = RedisScript(name: "incr-expire", source: """
            local value = redis.call('INCRBY', KEYS[1], ARGV[1])
            redis.call('PEXPIRE', KEYS[1], 60000)
            return value
            """)
        #expect(try await client.run(script, keys: ["a"], arguments: [5]) == .integer(5))

        _ = try await client.send("SCRIPT", "FLUSH")
        #expect(try await client.run(script, keys: ["a"], arguments: [1]) == .integer(6))

        _ = try await client.send("SCRIPT", "FLUSH")
        let other = RedisScript(name: "echo", source: "return ARGV[1]")
        let results = await client.pipeline([
            .evalsha(script, keys: ["b"], arguments: [1]),
            .keyed("SET", "plain", "x"),
            .evalsha(other, keys: ["c"], arguments: ["hello"]),
            .evalsha(script, keys: ["b"], arguments: [1]),
        ])
        #expect(try results.map { try $0.get() } == [.integer(1), .status("OK"), .bulk(Array("hello".utf8)), .integer(2)])

        // Only the EVALSHA commands were sent again: the plain SET ran exactly once.
        let stats = try await client.send("INFO", "commandstats").string ?? ""
        #expect(stats.contains("cmdstat_set:calls=1,"))
        await client.shutdown()
        await server.stop()
    }

    @Test func largeValuesAndBinaryArgumentsRoundTrip() async throws {
        let server = try await SharedRedis.server()
        let client = server.client()
        let prefix = uniquePrefix()
        var big = [UInt8](repeating: 0, count: 1 << 20)
        for index in big.indices { big[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 8) }
        let binaryKey: [UInt8] = Array(prefix.utf8) + [0, 13, 10, 36, 255, 42]
        let binaryValue: [UInt8] = Array(0...255) + [13, 10, 0, 0]

        _ = try await client.send(.keyed("SET", binaryKey, big))
        #expect(try await client.send(.keyed("GET", binaryKey)) == .bulk(big))
        _ = try await client.send(.keyed("SET", binaryKey, binaryValue))
        #expect(try await client.send(.keyed("GET", binaryKey)) == .bulk(binaryValue))
        #expect(try await client.send(.keyed("STRLEN", binaryKey)) == .integer(Int64(binaryValue.count)))

        // Many 1 MiB values in flight at once on one connection.
        let pipelined = await client.pipeline((0..<8).map { .keyed("SET", "\(prefix):big:\($0)", big) } + (0..<8).map { .keyed("GET", "\(prefix):big:\($0)") })
        #expect(pipelined[8...].allSatisfy { (try? $0.get()) == .bulk(big) })
        _ = try await client.send(RedisCommand("DEL", binaryKey))
        try await client.deleteKeys(prefix: prefix)
        await client.shutdown()
    }

    @Test func aclUserLogsInAndWrongPasswordIsAClearError() async throws {
        let server = try await RedisServer.start()
        let admin = server.client()
        _ = try await admin.send("ACL", "SETUSER", "app", "on", ">s3cret", "~app:*", "+@all")

        var good = server.configuration()
        good.endpoint.username = "app"
        good.endpoint.password = "s3cret"
        good.endpoint.database = 2
        good.clientName = "tollgate-test"
        let client = RedisClient(configuration: good, logger: .quiet)
        #expect(try await client.send("ACL", "WHOAMI").string == "app")
        _ = try await client.send("SET", "app:x", "in-db-2")
        #expect(try await client.send("CLIENT", "GETNAME").string == "tollgate-test")
        await #expect(throws: RedisError.self) { try await client.send("SET", "other:x", "1") }
        await client.shutdown()
        #expect(try await admin.send("EXISTS", "app:x") == .integer(0))
        var database2 = server.configuration()
        database2.endpoint.database = 2
        let reader = RedisClient(configuration: database2, logger: .quiet)
        #expect(try await reader.send("GET", "app:x").string == "in-db-2")
        await reader.shutdown()

        var bad = good
        bad.endpoint.password = "wrong"
        let rejected = RedisClient(configuration: bad, logger: .quiet)
        do {
            _ = try await rejected.send("PING")
            Issue.record("a wrong password was accepted")
        } catch {
            #expect(error.code == .authenticationFailed)
            #expect(error.delivery == .notSent)
            #expect(error.message.contains("app"))
            #expect(!error.message.contains("wrong"))
        }
        await rejected.shutdown()
        await admin.shutdown()
        await server.stop()
    }

    @Test func hashSlotsMatchClusterKeyslot() async throws {
        let server = try await RedisServer.start(.init(clusterEnabled: true))
        let client = server.client()
        var keys = ["", "a", "foo", "{user1000}.following", "{}x", "x{}", "{{a}}", "a{b}c{d}", "tg:{p17}:ledger", "ключ"]
        for _ in 0..<200 {
            keys.append(String((0..<Int.random(in: 1...24)).map { _ in "ab{}:xyz0123".randomElement()! }))
        }
        for key in keys {
            let expected = try await client.send("CLUSTER", "KEYSLOT", key).int
            #expect(Int64(HashSlot(key: key).rawValue) == expected, "slot of \(key)")
        }
        await client.shutdown()
        await server.stop()
    }

    @Test func subscriberResubscribesAfterRestart() async throws {
        let server = try await RedisServer.start()
        let publisher = server.client(timeout: .milliseconds(300))
        var configuration = server.configuration(timeout: .milliseconds(300))
        configuration.maximumReconnectDelay = .milliseconds(100)
        let subscriber = RedisSubscriber(configuration: configuration, channels: ["news"], logger: .quiet)
        var events = subscriber.events.makeAsyncIterator()
        #expect(await events.next() == .subscribed)
        _ = try await publisher.send("PUBLISH", "news", "one")
        #expect(await events.next() == .message(channel: "news", payload: Array("one".utf8)))

        try await server.restart()
        #expect(await events.next() == .subscribed)
        try await eventually { try await publisher.send("PUBLISH", "news", "two") == .integer(1) }
        #expect(await events.next() == .message(channel: "news", payload: Array("two".utf8)))
        await subscriber.shutdown()
        await publisher.shutdown()
        await server.stop()
    }
}

/// Retries `condition` for up to `timeout`, then fails.
func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    #expect(try await condition(), "condition not met within \(timeout)")
}
