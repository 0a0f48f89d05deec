import AsyncHTTPClient
import NIOCore
import ServiceLifecycle
import Synchronization

/// The pooled HTTP client proxy mode calls providers with. Created on the first proxied
/// call (a gateway that never proxies opens nothing), shut down as a ``Service`` after the
/// HTTP server has drained: it is the first of the gateway's services, so the last stopped.
final class UpstreamClient: Service, Sendable {
    private enum State {
        case idle
        case running(HTTPClient)
        case shutDown
    }

    private let configuration: ProxyConfiguration
    private let state = Mutex<State>(.idle)

    init(configuration: ProxyConfiguration) {
        self.configuration = configuration
    }

    /// The client, or nil once the gateway is shutting down.
    var client: HTTPClient? {
        state.withLock { state in
            switch state {
            case .running(let client): return client
            case .shutDown: return nil
            case .idle:
                var settings = HTTPClient.Configuration(
                    redirectConfiguration: .disallow,
                    timeout: .init(connect: Self.timeAmount(configuration.connectTimeout), read: Self.timeAmount(configuration.readTimeout)),
                    connectionPool: .init(idleTimeout: Self.timeAmount(configuration.poolIdleTimeout),
                                          concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.poolSize),
                    decompression: .disabled)
                settings.httpVersion = .automatic
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
                state = .running(client)
                return client
            }
        }
    }

    func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes the pool; later calls get no client.
    func shutdown() async {
        let client: HTTPClient? = state.withLock { state in
            defer { state = .shutDown }
            if case .running(let client) = state { return client }
            return nil
        }
        try? await client?.shutdown()
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
