import CoreMetrics
import Logging
import ServiceLifecycle
import TollgateCore

/// Replays the spool once Redis answers again. Replays are idempotent (settle and release
/// are keyed by request id), so an interrupted replay simply starts over. On graceful
/// shutdown it makes one last attempt; whatever cannot be applied stays on disk for the
/// next start.
struct SpoolReplayer: Service {
    let gateway: Gateway
    var interval: Duration = .milliseconds(250)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await replayOnce()
                try? await Task.sleep(for: interval)
            }
        }
        await replayOnce()
    }

    func replayOnce() async {
        guard gateway.spool.depth > 0, let snapshot = gateway.watcher.snapshot, gateway.breaker.wouldAdmit else { return }
        let entries: [SpoolEntry]
        do {
            entries = try await gateway.spool.beginReplay()
        } catch {
            gateway.logger.error("spool replay could not start", metadata: ["spool.error": "\(error)"])
            return
        }
        let engine = gateway.engine(for: snapshot)
        let settings = snapshot.configuration.settings
        for entry in entries {
            do {
                let plan = try snapshot.configuration.plan(apiKey: entry.apiKey, user: entry.user, at: entry.spooledAt, ignoringSuspension: true)
                try await gateway.breaker.run {
                    switch entry.operation {
                    case .commit, .record:
                        guard let usage = entry.usage else { return }
                        _ = try await engine.settle(SettleRequest(
                            kind: entry.operation == .commit ? .commit : .record, requestID: entry.requestID, usage: usage, format: entry.format,
                            price: entry.resolvedPrice, user: entry.user, feature: entry.feature, session: entry.session, experiment: entry.experiment,
                            latencyMillis: entry.latencyMillis, cacheHit: entry.cacheHit), plan: plan, settings: settings)
                    case .release:
                        _ = try await engine.release(requestID: entry.requestID, organization: plan.organization.id,
                                                     timezoneOffsetMillis: plan.timezoneOffsetMillis, settings: settings)
                    }
                }
                gateway.metrics.spoolReplayed.increment()
            } catch where gateway.cannotDecide(error, route: "spool") {
                // Unavailable, or refusing work (OOM, NOPERM): kept for the next attempt.
                gateway.logger.warning("spool replay paused: Redis cannot take it now", metadata: ["spool.error": "\(error)"])
                return
            } catch let error as EngineError {
                // Redis answered with an error about this entry (no model to price with, ...):
                // retrying cannot help. Kept apart for an operator.
                await gateway.spool.deadLetter(entry, reason: error.message)
                gateway.logger.error("spool entry cannot be replayed", metadata: ["spool.request_id": "\(entry.requestID)", "spool.error": "\(error)"])
            } catch {
                await gateway.spool.deadLetter(entry, reason: "\(error)")
                gateway.logger.error("spool entry cannot be replayed", metadata: ["spool.request_id": "\(entry.requestID)", "spool.error": "\(error)"])
            }
        }
        do {
            try await gateway.spool.finishReplay()
            gateway.logger.info("spool replayed", metadata: ["spool.entries": "\(entries.count)"])
        } catch {
            gateway.logger.error("spool replay could not finish", metadata: ["spool.error": "\(error)"])
        }
        gateway.metrics.spoolDepth.record(gateway.spool.depth)
    }
}
