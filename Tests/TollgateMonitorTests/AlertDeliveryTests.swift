import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import Prometheus
import RedisTestSupport
import Synchronization
import Testing
import TollgateCore
@testable import TollgateMonitor
import TollgateRedis

@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"), .cleansUp)
struct AlertDeliveryTests {
    static func alert(_ index: Int) -> Alert {
        Alert(kind: "budget_threshold", organization: "acme", scope: "organization", subject: "acme", limit: "budget_daily", threshold: 50,
              percent: 50, used: "0.5", of: "1", period: "2026-11-30", message: "drill \(index)", at: 0, id: "drill-\(index)")
    }

    /// A webhook that accepts connections and never answers, one that refuses them, and one
    /// that works: the working one gets every alert, roll-ups and hold expiry go on, and the
    /// hanging one never has more than `webhookConcurrency` sends in flight.
    @Test func aHangingOrRefusingWebhookDelaysNothingElse() async throws {
        let fixture = try await MonitorFixture.make()
        let hanging = try HangingListener()
        let refusing = try RedisServer.freeLoopbackPort()
        let received = Mutex<Set<String>>([])
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let id = request.headers[HTTPField.Name("X-Tollgate-Delivery")!] ?? ""
            received.withLock { _ = $0.insert(id) }
            return .ok
        }
        let port = try RedisServer.freeLoopbackPort()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: .quiet)
        // 31 s ahead by its clock: the hold made below (30 s) is due for expiry at once.
        let monitor = try Monitor(
            configuration: MonitorConfiguration(
                consumer: "a", batchSize: 50, webhooks: [
                    Webhook(url: "http://127.0.0.1:\(hanging.port)/hook", secret: "s"),
                    Webhook(url: "http://127.0.0.1:\(refusing)/hook", secret: "s"),
                    Webhook(url: "http://127.0.0.1:\(port)/hook", secret: "s"),
                ], webhookAttempts: 2, webhookInitialBackoff: .milliseconds(100), webhookTimeout: .seconds(120), webhookConcurrency: 2, clockOffsetMillis: 31_000),
            redis: fixture.client, redisConfiguration: fixture.subscriberConfiguration, keyPrefix: fixture.prefix,
            registry: PrometheusCollectorRegistry(), logger: .quiet)
        let plan = try fixture.plan()
        _ = try await fixture.engine().reserve(ReserveRequest(requestID: "held", model: "test-model", inputTokens: 1_000, maxOutputTokens: 0), plan: plan,
                                               price: try fixture.configuration.price("test-model", for: plan, at: MonitorFixture.now),
                                               settings: fixture.configuration.settings)
        var delivered = 0
        var rolledUp: Int64 = 0
        var holdsLeft: RedisReply = .null
        var hangingConnections = 0
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService() }
                group.addTask { try await monitor.alerts.run() }
                group.addTask { try await LedgerConsumer(monitor: monitor).run() }
                group.addTask { try await HoldExpirer(monitor: monitor).run() }
                try await waitUntilListening(port: port)
                for index in 0..<20 { monitor.alerts.fire(Self.alert(index)) }
                for index in 0..<5 { try await fixture.record("u\(index)", input: 100) }
                // Bounded: everything else is done within seconds, whatever the hanging webhook does.
                for _ in 0..<200 {
                    delivered = received.withLock { $0.count }
                    // Counted once the working webhook has everything; a hanging send cannot time
                    // out (120 s) and reconnect for its retry within this bounded wait, however
                    // slow the machine.
                    if delivered == 20 && hangingConnections == 0 { hangingConnections = hanging.acceptPending() }
                    rolledUp = try await fixture.dayTotals().requests
                    holdsLeft = try await fixture.client.send("ZCARD", fixture.keys.holds(organization: "acme"))
                    if delivered == 20, rolledUp == 5, holdsLeft == .integer(0) { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                group.cancelAll()
            }
        } catch {
            hanging.close()
            try await fixture.cleanUp()
            throw error
        }
        hanging.close()
        #expect(delivered == 20, "the working webhook got every alert")
        #expect(rolledUp == 5, "roll-ups went on")
        #expect(holdsLeft == .integer(0), "hold expiry went on")
        #expect(hangingConnections == 2, "sends in flight to the hanging webhook: \(hangingConnections)")
        try await fixture.cleanUp()
    }
}

/// Waits (bounded) until something accepts connections on a loopback port: a receiver that
/// a test starts must be up before alerts are sent to it.
func waitUntilListening(port: Int) async throws {
    for _ in 0..<200 {
        let fd = RedisServer.connectLoopback(port: port)
        if fd >= 0 {
            Glibc.close(fd)
            return
        }
        try await Task.sleep(for: .milliseconds(25))
    }
    throw HarnessError("nothing listens on port \(port)")
}

/// A loopback TCP listener that never answers: the kernel completes each connection, and
/// ``acceptPending()`` takes them (and keeps them open) only to count them.
final class HangingListener: Sendable {
    let port: Int
    private let state: Mutex<(listener: Int32, accepted: [Int32])>

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 64) == 0 else {
            Glibc.close(fd)
            throw HarnessError("bind/listen failed")
        }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        port = Int(UInt16(bigEndian: address.sin_port))
        state = Mutex((fd, []))
    }

    /// Accepts every connection waiting; returns how many have been accepted in all.
    func acceptPending() -> Int {
        state.withLock { state in
            while true {
                let connection = accept(state.listener, nil, nil)
                guard connection >= 0 else { break }
                state.accepted.append(connection)
            }
            return state.accepted.count
        }
    }

    func close() {
        state.withLock { state in
            for fd in state.accepted + [state.listener] where fd >= 0 { Glibc.close(fd) }
            state = (-1, [])
        }
    }
}
