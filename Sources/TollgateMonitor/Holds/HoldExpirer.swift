import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import TollgateCore
import TollgateRedis

/// Expires holds whose time-to-live has passed and refunds them to windows and budgets,
/// exactly once each (release.lua moves a hold from 'H' to 'X' only once, whoever asks):
/// a gateway that died mid-request leaves no phantom spend.
struct HoldExpirer: Service {
    let monitor: Monitor

    func run() async throws {
        guard await monitor.snapshot() != nil else { return }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if let snapshot = monitor.watcher.snapshot { await expireDue(snapshot) }
                try? await Task.sleep(for: monitor.configuration.expiryInterval)
            }
        }
    }

    /// One pass over every partition's hold index. Returns the holds expired.
    @discardableResult
    func expireDue(_ snapshot: MonitorSnapshot) async -> Int {
        let keys = monitor.keys(snapshot)
        let engine = monitor.engine(snapshot)
        let now = monitor.now
        let scans = (0..<keys.partitions).map { partition in
            RedisCommand.keyed("ZRANGEBYSCORE", keys.holds(partition: partition), "-inf", now, "LIMIT", 0, 500)
        }
        var expired = 0
        for result in await monitor.redis.pipeline(scans) {
            guard case .success(let reply) = result else { continue }
            for member in reply.array?.compactMap(\.string) ?? [] {
                guard let colon = member.firstIndex(of: ":") else { continue }
                let organization = String(member[..<colon])
                let requestID = String(member[member.index(after: colon)...])
                let timezone = await monitor.timezone(of: organization, snapshot)
                do {
                    let outcome = try await engine.release(requestID: requestID, organization: organization,
                                                           timezoneOffsetMillis: Int64(timezone.secondsFromGMT()) * 1_000, mode: .expire,
                                                           settings: snapshot.configuration.settings)
                    if case .expired(let tokens, let cost) = outcome {
                        expired += 1
                        monitor.metrics.holdsExpired.increment()
                        monitor.logger.info("hold expired and refunded", metadata: [
                            "hold.organization": "\(organization)", "hold.request_id": "\(requestID)",
                            "hold.tokens": "\(tokens)", "hold.cost": "\(cost.decimalString)",
                        ])
                    }
                } catch {
                    monitor.logger.warning("hold expiry failed", metadata: ["hold.request_id": "\(requestID)", "redis.error": "\(error)"])
                }
            }
        }
        return expired
    }
}
