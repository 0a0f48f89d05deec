import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateGateway
import Yams

/// `Docs/openapi.yaml` is kept true: every route is documented and every documented route
/// exists, and real responses match the documented schemas — no undocumented fields.
@Suite struct OpenAPIDocumentTests {
    static func document() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Docs/openapi.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    @Test func isOpenAPI31WithEveryRoute() async throws {
        let document = try Self.document()
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: Any])
        let server = try await SharedRedis.server()
        _ = server
        let fixture = try await GatewayFixture.make()
        let routes = Set(fixture.gateway.buildRouter().routes.map { "\($0.method.rawValue.lowercased()) \(Self.openAPIPath($0.path.description))" })
        let documented = Set(paths.flatMap { path, item in
            ((item as? [String: Any]) ?? [:]).keys.filter { ["get", "post", "put", "delete", "patch"].contains($0) }.map { "\($0) \(path)" }
        })
        #expect(routes == documented, "router only: \(routes.subtracting(documented)); document only: \(documented.subtracting(routes))")
        try await fixture.cleanUp()
    }

    /// Hummingbird writes parameters as `{name}` or `:name`; OpenAPI as `{name}`.
    static func openAPIPath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
        }.joined(separator: "/")
    }

    @Test(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"))
    func responsesMatchTheirSchemas() async throws {
        let document = try Self.document()
        let validator = SchemaValidator(document: document)
        let fixture = try await GatewayFixture.make(GatewayFixture.configuration(standard: Limits(tpm: 2_000, rpm: 100, dailyBudget: try Money(decimal: "1.00"))))
        let exchanges: [(String, HTTPRequest.Method, String, String?)] = [
            ("/v1/reserve", .post, "/v1/reserve", #"{"request_id":"s1","api_key":"k1","model":"test-model","input_tokens":1000,"max_output_tokens":500,"user":"u"}"#),
            ("/v1/reserve", .post, "/v1/reserve", #"{"request_id":"s1","api_key":"k1","model":"test-model","input_tokens":1000,"max_output_tokens":500}"#),
            ("/v1/reserve", .post, "/v1/reserve", #"{"request_id":"s2","api_key":"k1","model":"test-model","input_tokens":1000,"max_output_tokens":100}"#),
            ("/v1/reserve", .post, "/v1/reserve", #"{"request_id":"s3","api_key":"k1","model":"test-model","input_tokens":9000}"#),
            ("/v1/reserve", .post, "/v1/reserve", #"{"request_id":"s4","api_key":"k1","model":"nope","input_tokens":1}"#),
            ("/v1/reserve", .post, "/v1/reserve", #"{"request_id":"#),
            ("/v1/commit", .post, "/v1/commit", #"{"request_id":"s1","api_key":"k1","usage":{"input_tokens":900,"output_tokens":100,"total_tokens":1000},"latency_ms":5}"#),
            ("/v1/commit", .post, "/v1/commit", #"{"request_id":"s1","api_key":"k1","usage":{"input_tokens":900,"output_tokens":100,"total_tokens":1000}}"#),
            ("/v1/record", .post, "/v1/record", #"{"request_id":"s5","api_key":"g1","model":"test-model","usage":{"promptTokenCount":10,"candidatesTokenCount":5}}"#),
            ("/v1/release", .post, "/v1/release", #"{"request_id":"s6","api_key":"k1"}"#),
            ("/v1/release", .post, "/v1/release", #"{"request_id":"s1","api_key":"k1"}"#),
            ("/v1/reserve", .post, "/v1/reserve", #"{"request_id":"s7","api_key":"k1","model":"test-model","messages":[{"role":"user","content":"Hi"}],"max_output_tokens":10}"#),
            ("/v1/reserve", .post, "/v1/reserve", #"{"request_id":"s8","api_key":"k1","model":"test-model","messages":[],"input_tokens":5}"#),
            ("/v1/tokens/count", .post, "/v1/tokens/count", #"{"model":"gpt-4o","messages":[{"role":"user","content":"Hello there"}],"tools":[]}"#),
            ("/v1/tokens/count", .post, "/v1/tokens/count", #"{"model":"gpt-4o","text":"Hello","input":"Hello"}"#),
            ("/v1/tokens/count", .post, "/v1/tokens/count", #"{"model":"gpt-4o"}"#),
            ("/v1/quota/{api_key}", .get, "/v1/quota/k1?user=u", nil),
            ("/v1/quota/{api_key}", .get, "/v1/quota/zzz", nil),
            ("/healthz", .get, "/healthz", nil),
            ("/readyz", .get, "/readyz", nil),
        ]
        try await fixture.run { client in
            for (path, method, uri, body) in exchanges {
                try await client.execute(uri: uri, method: method, headers: GatewayFixture.headers(), body: body.map(GatewayFixture.body)) { response in
                    let status = String(response.status.code)
                    let schema = try #require(validator.responseSchema(path: path, method: method.rawValue.lowercased(), status: status),
                                              "\(method) \(path) \(status) is not documented")
                    let json = try #require(response.json, "\(uri) answered no JSON")
                    let problems = validator.validate(json, against: schema, at: "\(method) \(uri) \(status)")
                    #expect(problems.isEmpty, "\(problems)")
                }
            }
        }
        try await fixture.cleanUp()
    }
}

/// Enough JSON Schema for our document: $ref, type (or a list of types), required,
/// properties (closed: every field must be documented), items, enum, minimum, maximum.
/// `@unchecked Sendable`: the parsed document is never mutated after loading.
struct SchemaValidator: @unchecked Sendable {
    let document: [String: Any]

    func responseSchema(path: String, method: String, status: String) -> [String: Any]? {
        guard let paths = document["paths"] as? [String: Any], let item = paths[path] as? [String: Any],
              let operation = item[method] as? [String: Any], let responses = operation["responses"] as? [String: Any],
              var response = responses[status] as? [String: Any] else { return nil }
        if let ref = response["$ref"] as? String, let resolved = resolve(ref) { response = resolved }
        let content = response["content"] as? [String: Any]
        return (content?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
    }

    func resolve(_ ref: String) -> [String: Any]? {
        var node: Any = document
        for part in ref.dropFirst(2).split(separator: "/") {
            guard let object = node as? [String: Any], let next = object[String(part)] else { return nil }
            node = next
        }
        return node as? [String: Any]
    }

    func validate(_ value: JSONValue, against schema: [String: Any], at location: String) -> [String] {
        var schema = schema
        if let ref = schema["$ref"] as? String {
            guard let resolved = resolve(ref) else { return ["\(location): unresolved \(ref)"] }
            schema = resolved
        }
        var problems: [String] = []
        let types: [String] = (schema["type"] as? [String]) ?? (schema["type"] as? String).map { [$0] } ?? []
        if !types.isEmpty && !types.contains(where: { matches(value, $0) }) {
            return ["\(location): expected \(types), got \(value)"]
        }
        if let allowed = schema["enum"] as? [Any] {
            let texts = allowed.map { "\($0)" }
            let actual: String? = switch value {
            case .string(let text): text
            case .bool(let flag): "\(flag)"
            case .number(let literal): literal
            default: nil
            }
            if let actual, !texts.contains(actual) { problems.append("\(location): \(actual) is not one of \(texts)") }
        }
        if case .number = value, let integer = value.integerValue {
            if let minimum = schema["minimum"] as? Int, integer < minimum { problems.append("\(location): \(integer) < \(minimum)") }
            if let maximum = schema["maximum"] as? Int, integer > maximum { problems.append("\(location): \(integer) > \(maximum)") }
        }
        if case .object(let members) = value, let properties = schema["properties"] as? [String: Any] {
            for name in (schema["required"] as? [String]) ?? [] where members[name] == nil {
                problems.append("\(location): missing required \(name)")
            }
            for (name, member) in members {
                guard let property = properties[name] as? [String: Any] else {
                    problems.append("\(location): undocumented field \(name)")
                    continue
                }
                problems += validate(member, against: property, at: "\(location).\(name)")
            }
        }
        if case .array(let elements) = value, let items = schema["items"] as? [String: Any] {
            for (index, element) in elements.enumerated() { problems += validate(element, against: items, at: "\(location)[\(index)]") }
        }
        return problems
    }

    func matches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null), ("number", .number): true
        case ("integer", .number): value.integerValue != nil
        default: false
        }
    }
}
