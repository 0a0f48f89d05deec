import ServiceLifecycle
import TollgateCore
import TollgateRedis

/// Publishes notable decisions (refusals, degraded answers) to the events channel that
/// `tollgate watch` shows. Off the request path: handlers drop events into a bounded buffer
/// (the newest 1,000 kept) and this service publishes them.
final class EventPublisher: Service, Sendable {
    private let redis: any RedisExecutor
    private let channel: String
    private let events: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    init(redis: any RedisExecutor, channel: String) {
        self.redis = redis
        self.channel = channel
        (events, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1_000))
    }

    /// Queues one event (a JSON object); never waits.
    func publish(_ fields: [(String, String)], at time: Int64) {
        var json = "{\"at\":\(time)"
        for (key, value) in fields { json += ",\"\(key)\":\"" + value.map { $0 == "\"" || $0 == "\\" ? "_" : $0 }.map(String.init).joined() + "\"" }
        continuation.yield(json + "}")
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // Concurrent handlers' events share the client's automatic pipelining.
            for await event in self.events {
                _ = try? await self.redis.send("PUBLISH", self.channel, event)
            }
        }
        continuation.finish()
    }
}
