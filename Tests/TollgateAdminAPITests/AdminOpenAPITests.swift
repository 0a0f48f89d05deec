import Foundation
import Hummingbird
import Logging
import RedisTestSupport
import Testing
@testable import TollgateAdminAPI
import TollgateCore
import TollgateRedis
import Yams

/// `Docs/admin-openapi.yaml` lists exactly the routes the admin API registers, each with the
/// scope it needs; Scripts/checks/51-admin-schemathesis.sh fuzzes every one of them live.
@Suite struct AdminOpenAPITests {
    static func document() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Docs/admin-openapi.yaml")
        return try #require(try Yams.load(yaml: try String(contentsOf: url, encoding: .utf8)) as? [String: Any])
    }

    @Test(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"))
    func documentsExactlyTheRegisteredRoutesWithTheirScopes() async throws {
        let document = try Self.document()
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: Any])
        let redis = try await TestRedis.client(connections: 1)
        let api = try AdminAPI(configuration: AdminAPIConfiguration(), redis: redis, redisConfiguration: try await TestRedis.configuration(),
                               customers: CustomerStore(redis: redis, keys: KeyLayout(prefix: uniquePrefix())), logger: Logger(label: "test"))
        let registered = Set(api.buildRouter().routes.map { "\($0.method.rawValue.lowercased()) \($0.path.description)" })
        var documented: Set<String> = []
        for (path, item) in paths {
            for (method, operation) in (item as? [String: Any]) ?? [:] where ["get", "post", "put", "delete", "patch"].contains(method) {
                documented.insert("\(method) \(path)")
                // Each route's scope is written down as x-required-scope.
                if let route = api.routes.first(where: { $0.path == path && $0.method.rawValue.lowercased() == method }) {
                    #expect((operation as? [String: Any])?["x-required-scope"] as? String == route.scope.rawValue, "\(method) \(path)")
                }
            }
        }
        await redis.shutdown()
        #expect(registered == documented, "router only: \(registered.subtracting(documented).sorted()); document only: \(documented.subtracting(registered).sorted())")
    }

    /// The formats the server checks are the patterns the document states (one fact, written
    /// in Swift, checked against the document).
    @Test func documentedFormatsAreTheOnesTheServerChecks() throws {
        let schemas = try #require((try Self.document()["components"] as? [String: Any])?["schemas"] as? [String: Any])
        func pattern(_ name: String) -> String? { (schemas[name] as? [String: Any])?["pattern"] as? String }
        #expect(pattern("Money") == AdminFormat.money)
        #expect(pattern("Price") == AdminFormat.price)
        #expect(pattern("Tokenizer") == AdminFormat.tokenizer)
        #expect(pattern("Time") == AdminFormat.time)
        #expect(pattern("ModelName") == AdminFormat.model)
        #expect(pattern("Identifier") == AdminFormat.identifier)
        let parameters = try #require((try Self.document()["components"] as? [String: Any])?["parameters"] as? [String: Any])
        #expect(((parameters["IdempotencyKey"] as? [String: Any])?["schema"] as? [String: Any])?["pattern"] as? String == AdminFormat.idempotencyKey)
        let zones = try #require((schemas["TimeZone"] as? [String: Any])?["enum"] as? [String])
        #expect(Set(zones) == AdminFormat.timezones, "missing: \(AdminFormat.timezones.subtracting(zones).sorted().prefix(20))")
        for (sample, valid) in [("25.00", true), ("1.0000000001", false), ("+1", false), ("1e3", false)] {
            #expect(AdminFormat.matches(sample, AdminFormat.money) == valid, "\(sample)")
        }
        for (sample, valid) in [("estimate:0.5", true), ("estimate:4.0", true), ("estimate:4.001", false), ("estimate:0.499", false), ("o200k_base", true)] {
            #expect(AdminFormat.matches(sample, AdminFormat.tokenizer) == valid, "\(sample)")
        }
    }
}
