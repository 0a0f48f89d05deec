import Logging

/// A message, or a (re)connection, on a subscriber connection.
public enum SubscriptionEvent: Sendable, Equatable {
    /// The subscriptions are in place — after the first connection and after every
    /// reconnection. Messages published while disconnected are lost, so a listener that
    /// must not miss a change re-reads its state here.
    case subscribed
    case message(channel: String, payload: [UInt8])
}

/// A dedicated connection in subscriber mode, resubscribing after every reconnection.
public final class RedisSubscriber: Sendable {
    private let connection: RedisConnection
    public let events: AsyncStream<SubscriptionEvent>
    private let continuation: AsyncStream<SubscriptionEvent>.Continuation

    public init(configuration: RedisConfiguration, channels: [String], logger: Logger) {
        let (events, continuation) = AsyncStream.makeStream(of: SubscriptionEvent.self, bufferingPolicy: .bufferingNewest(1024))
        self.events = events
        self.continuation = continuation
        var configuration = configuration
        configuration.connectionCount = 1
        let subscription = RedisSubscription(channels: channels) { reply in
            guard let reply else {
                continuation.yield(.subscribed)
                return
            }
            guard let parts = reply.array, parts.count == 3, parts[0].string == "message",
                  let channel = parts[1].string, let payload = parts[2].bytes else { return }
            continuation.yield(.message(channel: channel, payload: payload))
        }
        connection = RedisConnection(configuration: configuration, index: 0, logger: logger, subscription: subscription)
    }

    public func shutdown() async {
        await connection.shutdown()
        continuation.finish()
    }
}
