import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TollgateRedis

/// The events channel (refusals and degraded decisions from the gateways, alerts from the
/// monitor), fanned out to every open live page. One subscriber connection per process.
final class LiveFeed: Service, Sendable {
    /// One event: its organisation (for customer filtering) and its JSON.
    struct Event: Sendable {
        var organization: String
        var json: String
    }

    private let configuration: RedisConfiguration
    private let channel: String
    private let logger: Logger
    private let listeners = Mutex<[UInt64: AsyncStream<Event>.Continuation]>([:])
    private let nextID = Atomic<UInt64>(0)

    init(configuration: RedisConfiguration, channel: String, logger: Logger) {
        self.configuration = configuration
        self.channel = channel
        self.logger = logger
    }

    /// A stream of events from now on; it ends when the caller stops iterating or the
    /// process shuts down.
    func listen() -> AsyncStream<Event> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(256))
        continuation.onTermination = { [weak self] _ in self?.listeners.withLock { _ = $0.removeValue(forKey: id) } }
        listeners.withLock { $0[id] = continuation }
        return stream
    }

    var listenerCount: Int { listeners.withLock { $0.count } }

    func run() async throws {
        let subscriber = RedisSubscriber(configuration: configuration, channels: [channel], logger: logger)
        await cancelWhenGracefulShutdown {
            for await event in subscriber.events {
                guard case .message(_, let payload) = event else { continue }
                let json = String(decoding: payload, as: UTF8.self)
                let organization = Self.organization(in: json)
                let continuations = self.listeners.withLock { Array($0.values) }
                for continuation in continuations { continuation.yield(Event(organization: organization, json: json)) }
            }
        }
        await subscriber.shutdown()
        for continuation in listeners.withLock({ Array($0.values) }) { continuation.finish() }
    }

    /// The event's `organization` field ("" if it has none).
    static func organization(in json: String) -> String {
        guard let data = json.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return "" }
        return object["organization"] as? String ?? ""
    }
}
