import Testing
@testable import TollgateRedis

@Suite struct EndpointTests {
    @Test func parsesHostPortAndDatabase() throws {
        let endpoint = try RedisEndpoint(url: "redis://10.0.0.5:6380/3")
        #expect(endpoint == RedisEndpoint(host: "10.0.0.5", port: 6380, database: 3))
    }

    @Test func parsesAclUserAndEscapedPassword() throws {
        let endpoint = try RedisEndpoint(url: "redis://gateway:p%40ss%3Aword@redis.internal:6379")
        #expect(endpoint.username == "gateway")
        #expect(endpoint.password == "p@ss:word")
        #expect(endpoint.host == "redis.internal")
    }

    @Test func passwordWithoutUser() throws {
        let endpoint = try RedisEndpoint(url: "redis://:secret@127.0.0.1")
        #expect(endpoint.username == nil)
        #expect(endpoint.password == "secret")
        #expect(endpoint.port == 6379)
    }

    @Test func ipv6Host() throws {
        let endpoint = try RedisEndpoint(url: "redis://[::1]:7000")
        #expect(endpoint.host == "::1")
        #expect(endpoint.port == 7000)
    }

    @Test func defaultsToLoopback() throws {
        #expect(try RedisEndpoint(url: "redis://") == RedisEndpoint())
    }

    @Test(arguments: ["http://localhost:6379", "redis://host:notaport", "redis://host:70000", "redis://host:1/x", "redis://[::1:6379", "redis://u:%zz@h"])
    func rejectsBadUrls(_ url: String) {
        #expect(throws: RedisError.self) { try RedisEndpoint(url: url) }
    }

    @Test func descriptionHidesThePassword() throws {
        let endpoint = try RedisEndpoint(url: "redis://admin:hunter2@127.0.0.1:6379/1")
        #expect(endpoint.description == "redis://admin:***@127.0.0.1:6379/1")
        #expect(!endpoint.description.contains("hunter2"))
    }

    @Test func errorMessagesHideThePassword() {
        do {
            _ = try RedisEndpoint(url: "redis://admin:hunter2@127.0.0.1:bad")
            Issue.record("expected an error")
        } catch {
            #expect(!error.message.contains("hunter2"))
        }
    }
}

@Suite struct CommandTests {
    @Test func storesArgumentsBackToBack() {
        let command = RedisCommand("SET", "key", [UInt8]([0, 13, 10, 255]), 42, Int64(-7))
        #expect(command.argumentCount == 5)
        #expect(Array(command.argument(0)) == Array("SET".utf8))
        #expect(Array(command.argument(2)) == [0, 13, 10, 255])
        #expect(String(decoding: command.argument(3), as: UTF8.self) == "42")
        #expect(String(decoding: command.argument(4), as: UTF8.self) == "-7")
        // A range in one pass gives the same bytes as one argument at a time.
        for lower in 0...5 {
            for upper in lower...5 {
                #expect(command.arguments(lower..<upper).map(Array.init) == (lower..<upper).map { Array(command.argument($0)) })
            }
        }
        #expect(command.words == ["SET", "key", "\0\r\n\u{FFFD}", "42", "-7"])
    }

    @Test(arguments: [Int64.min, -1, 0, 9, 10, Int64.max])
    func formatsIntegersLikeString(_ value: Int64) {
        var buffer: [UInt8] = []
        value.write(to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == String(value))
    }

    @Test func evalshaRoutesByFirstKey() {
        let script = RedisScript(name: "t", source: "return 1")
        let command = RedisCommand.evalsha(script, keys: ["{p1}:a", "{p1}:b"], arguments: ["x"])
        #expect(command.routingKey.map { String(decoding: $0, as: UTF8.self) } == "{p1}:a")
        #expect(command.script == script)
    }

    @Test func scriptShaMatchesRedis() {
        // SHA-1 of "return 1", as `SCRIPT LOAD "return 1"` answers.
        #expect(RedisScript(name: "one", source: "return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }
}

@Suite struct HashSlotTests {
    @Test(arguments: [
        ("foo", 12182), ("bar", 5061), ("", 0), ("123456789", 12739),
        ("{user1000}.following", 3443), ("{user1000}.followers", 3443),
        ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015), ("foo{bar}{zap}", 5061),
    ])
    func knownSlots(_ key: String, _ slot: Int) {
        #expect(HashSlot(key: key).rawValue == UInt16(slot))
    }

    @Test func keysWithTheSameTagShareASlot() {
        #expect(HashSlot(key: "tg:{p17}:o:acme") == HashSlot(key: "tg:{p17}:ledger"))
        #expect(HashSlot(key: "tg:{p17}:o:acme") == HashSlot(key: "p17"))
    }
}
