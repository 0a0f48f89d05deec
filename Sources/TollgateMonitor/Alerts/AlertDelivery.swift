import AsyncHTTPClient
import CoreMetrics
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TollgateCore
import TollgateRedis

/// Delivers each alert to the log, to the events channel (`tollgate watch`) and to every
/// webhook: an HTTP POST of the alert's JSON with `X-Tollgate-Signature: sha256=<HMAC-SHA256
/// of "<timestamp>.<body>" with the webhook's secret>` and `X-Tollgate-Timestamp`, retried
/// with doubling backoff up to a bounded number of attempts.
///
/// ``fire(_:)`` never waits, so roll-ups, hold expiry and alert evaluation never wait for a
/// webhook. Each webhook has its own queue (at most `queueLimit` alerts; beyond, an alert is
/// dropped for that webhook, counted and logged) and at most `concurrency` sends in flight:
/// an endpoint that hangs or refuses holds only its own slots.
final class AlertDelivery: Service, Sendable {
    private let redis: any RedisExecutor
    private let channel: String
    private let webhooks: [Webhook]
    private let attempts: Int
    private let initialBackoff: Duration
    private let timeout: Duration
    private let concurrency: Int
    private let queueLimit: Int
    private let metrics: MonitorMetrics
    private let logger: Logger
    private let stream: AsyncStream<Alert>
    private let continuation: AsyncStream<Alert>.Continuation

    init(redis: any RedisExecutor, channel: String, webhooks: [Webhook], attempts: Int, initialBackoff: Duration, timeout: Duration, concurrency: Int, queueLimit: Int,
         metrics: MonitorMetrics, logger: Logger) {
        self.redis = redis
        self.channel = channel
        self.webhooks = webhooks
        self.attempts = max(1, attempts)
        self.initialBackoff = initialBackoff
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.queueLimit = max(1, queueLimit)
        self.metrics = metrics
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: Alert.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    func fire(_ alert: Alert) {
        metrics.alertFired(kind: alert.kind)
        continuation.yield(alert)
    }

    /// One alert for one webhook.
    private struct Delivery: Sendable {
        var body: Data
        var id: String
    }

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let queues = webhooks.map { _ in AsyncStream.makeStream(of: Delivery.self, bufferingPolicy: .bufferingOldest(queueLimit)) }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for (webhook, queue) in zip(webhooks, queues) {
                    group.addTask { await self.dispatch(queue.stream, to: webhook, client: client) }
                }
                for await alert in stream {
                    logger.warning("\(alert.message)", metadata: [
                        "alert.kind": "\(alert.kind)", "alert.organization": "\(alert.organization)", "alert.subject": "\(alert.scope):\(alert.subject)",
                        "alert.limit": "\(alert.limit)", "alert.percent": "\(alert.percent)", "alert.id": "\(alert.id)",
                    ])
                    let body = alert.json()
                    var event = String(decoding: body, as: UTF8.self)
                    event.insert(contentsOf: "\"type\":\"alert\",", at: event.index(after: event.startIndex))
                    _ = try? await redis.send("PUBLISH", channel, event)
                    for (webhook, queue) in zip(webhooks, queues) {
                        if case .dropped = queue.continuation.yield(Delivery(body: body, id: alert.id)) {
                            metrics.alertsFailed.increment()
                            logger.error("webhook queue full: alert not delivered", metadata: ["alert.id": "\(alert.id)", "webhook.url": "\(webhook.url)",
                                                                                               "webhook.queue_limit": "\(queueLimit)"])
                        }
                    }
                }
                // Shutting down: what is queued is still delivered (each send is bounded by its attempts).
                for queue in queues { queue.continuation.finish() }
            }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
        try? await client.shutdown()
    }

    /// One webhook's deliveries in order of arrival, at most `concurrency` at a time; finished
    /// sends are reaped as new ones start, so nothing accumulates.
    private func dispatch(_ deliveries: AsyncStream<Delivery>, to webhook: Webhook, client: HTTPClient) async {
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for await delivery in deliveries {
                if inFlight == concurrency {
                    await group.next()
                    inFlight -= 1
                }
                group.addTask { await self.deliver(delivery.body, id: delivery.id, to: webhook, client: client) }
                inFlight += 1
            }
        }
    }

    func deliver(_ body: Data, id: String, to webhook: Webhook, client: HTTPClient) async {
        var backoff = initialBackoff
        for attempt in 1...attempts {
            let timestamp = String(Int64(Date().timeIntervalSince1970))
            var request = HTTPClientRequest(url: webhook.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Tollgate-Timestamp", value: timestamp)
            request.headers.add(name: "X-Tollgate-Signature", value: "sha256=" + Self.signature(secret: webhook.secret, timestamp: timestamp, body: body))
            request.headers.add(name: "X-Tollgate-Delivery", value: id)
            request.headers.add(name: "X-Tollgate-Attempt", value: String(attempt))
            request.body = .bytes(ByteBuffer(bytes: body))
            var status: UInt = 0
            do {
                let response = try await client.execute(request, timeout: .milliseconds(timeout.components.seconds * 1_000 + timeout.components.attoseconds / 1_000_000_000_000_000))
                status = response.status.code
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(status) { return }
            } catch {
                logger.info("webhook attempt failed", metadata: ["alert.id": "\(id)", "webhook.attempt": "\(attempt)", "webhook.error": "\(error)"])
            }
            if attempt < attempts {
                try? await Task.sleep(for: backoff)
                backoff = backoff * 2
            } else {
                metrics.alertsFailed.increment()
                logger.error("webhook delivery failed", metadata: ["alert.id": "\(id)", "webhook.url": "\(webhook.url)", "webhook.status": "\(status)", "webhook.attempts": "\(attempts)"])
            }
        }
    }

    /// Hex HMAC-SHA256 of `<timestamp>.<body>`: what a receiver recomputes to trust a call.
    static func signature(secret: String, timestamp: String, body: Data) -> String {
        var message = Data(timestamp.utf8)
        message.append(UInt8(ascii: "."))
        message.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }
}
