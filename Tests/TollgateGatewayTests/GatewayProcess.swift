import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RedisTestSupport
import Testing
import TollgateCore

/// A `tollgate serve` process on a free loopback port, stopped by its PID.
final class GatewayProcess: Sendable {
    let port: Int
    let process: ChildProcess
    let spool: String

    init(redisURL: String, prefix: String, name: String, extra: [String] = []) async throws {
        port = try RedisServer.freeLoopbackPort()
        spool = try RedisServer.makeTemporaryDirectory() + "/spool.jsonl"
        process = try ChildProcess(try ChildProcess.executable("tollgate"), [
            "serve", "--redis", redisURL, "--prefix", prefix, "--port", String(port), "--spool", spool, "--node", name,
            "--drain-seconds", "1", "--poll-ms", "100", "--redis-timeout-ms", "300", "--log-level", "warning",
        ] + extra)
        for _ in 0..<200 {
            if let response = try? await get("/readyz"), response.status == .ok { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("gateway \(name) did not become ready: \(process.output.suffix(1_000))")
    }

    var base: String { "http://127.0.0.1:\(port)" }

    struct Reply: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var json: JSONValue?
    }

    func get(_ path: String, token: String? = GatewayFixture.token) async throws -> Reply {
        try await send(.GET, path, body: nil, token: token)
    }

    func post(_ path: String, _ body: String, token: String? = GatewayFixture.token) async throws -> Reply {
        try await send(.POST, path, body: body, token: token)
    }

    private func send(_ method: HTTPMethod, _ path: String, body: String?, token: String?) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: response.status, headers: response.headers, json: try? JSONValue.parse(bytes.readableBytesView))
    }

    func terminate() async -> Int32 {
        process.signal(SIGTERM)
        return await process.wait(timeout: .seconds(20))
    }
}
