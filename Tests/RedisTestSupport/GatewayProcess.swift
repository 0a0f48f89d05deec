import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TollgateCore

/// A `tollgate serve` process on a free loopback port, stopped by its PID.
public final class GatewayProcess: Sendable {
    public let port: Int
    public let process: ChildProcess
    public let spool: String
    public let token: String

    /// Starts a gateway named `name` (nil: the default name) with its own spool in a fresh
    /// directory, or, with `directory`, started there with the default spool; unless
    /// `waitUntilReady` is false, waits until `/readyz` says ready.
    public init(redisURL: String, prefix: String, name: String?, token: String = "tg_test_all_3f9d2c", directory: String? = nil,
                spool: String? = nil, extra: [String] = [], waitUntilReady: Bool = true) async throws {
        self.token = token
        port = try RedisServer.freeLoopbackPort()
        var arguments = ["serve", "--redis", redisURL, "--prefix", prefix, "--port", String(port)]
        if let name { arguments += ["--node", name] }
        if let directory {
            let file = spool ?? "tollgate-spool-\(name ?? String(port)).jsonl"
            self.spool = file.hasPrefix("/") ? file : directory + "/" + file
            if let spool { arguments += ["--spool", spool] }
        } else {
            self.spool = try spool ?? RedisServer.makeTemporaryDirectory() + "/spool.jsonl"
            arguments += ["--spool", self.spool]
        }
        process = try ChildProcess(try ChildProcess.executable("tollgate"), arguments + [
            "--drain-seconds", "1", "--poll-ms", "100", "--redis-timeout-ms", "300", "--log-level", "warning",
        ] + extra, directory: directory)
        if !waitUntilReady {
            // Up once it answers /healthz.
            for _ in 0..<200 {
                if let response = try? await send(.GET, "/healthz", body: nil, token: nil), response.status == .ok { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw HarnessError("gateway \(name ?? String(port)) did not start: \(process.output.suffix(1_000))")
        }
        for _ in 0..<200 {
            if let response = try? await send(.GET, "/readyz", body: nil, token: nil), response.status == .ok { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.signal(SIGKILL)
        _ = await process.wait(timeout: .seconds(5))
        throw HarnessError("gateway \(name ?? String(port)) did not become ready: \(process.output.suffix(1_000))")
    }

    public var base: String { "http://127.0.0.1:\(port)" }

    public struct Reply: Sendable {
        public var status: HTTPResponseStatus
        public var headers: HTTPHeaders
        public var json: JSONValue?
        public var text: String
    }

    public func get(_ path: String) async throws -> Reply {
        try await send(.GET, path, body: nil, token: token)
    }

    public func post(_ path: String, _ body: String) async throws -> Reply {
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
        return Reply(status: response.status, headers: response.headers, json: try? JSONValue.parse(bytes.readableBytesView),
                     text: String(buffer: bytes))
    }

    public func terminate() async -> Int32 {
        process.signal(SIGTERM)
        return await process.wait(timeout: .seconds(20))
    }
}
