import CoreMetrics
import Logging
import ServiceLifecycle
import TollgateCore

/// Replays the spool once Redis answers again. Replays are idempotent (settle and release
/// are keyed by request id), so an interrupted replay simply starts over. On graceful
/// shutdown it makes one last attempt; whatever cannot be applied stays on disk for the
/// next start (or for `tollgate spool replay`).
struct SpoolReplayer: Service {
    let gateway: Gateway
    var interval: Duration = .milliseconds(250)

    func run() async throws {
        await recoverJournal()
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await replayOnce()
                try? await Task.sleep(for: interval)
            }
        }
        await replayOnce()
    }

    /// Spools a commit for each call a killed predecessor left open in the journal.
    func recoverJournal() async {
        guard let journal = gateway.journal else { return }
        do {
            let recovered = try await journal.recover(into: gateway.spool)
            if recovered > 0 {
                gateway.logger.warning("calls left open by a gateway that died were spooled for commit from its journal",
                                       metadata: ["proxy.recovered": "\(recovered)", "proxy.journal": "\(journal.orphanedPath)"])
            }
        } catch {
            gateway.logger.error("the orphaned call journal cannot be recovered; it stays for the next start",
                                 metadata: ["proxy.journal": "\(journal.orphanedPath)", "spool.error": "\(error)"])
        }
    }

    func replayOnce() async {
        guard gateway.spool.depth > 0, let snapshot = gateway.watcher.snapshot, gateway.breaker.wouldAdmit else { return }
        let engine = gateway.engine(for: snapshot)
        let configuration = snapshot.configuration
        let report: SpoolReplayReport
        do {
            report = try await gateway.spool.replay { entry in
                do {
                    let plan = try await entry.plan(in: configuration, customers: gateway.customers, store: gateway.customerStore)
                    try await gateway.breaker.run { try await entry.apply(plan: plan, engine: engine, settings: configuration.settings) }
                    gateway.metrics.spoolReplayed.increment()
                    return .applied
                } catch where gateway.cannotDecide(error, route: "spool") {
                    // Unavailable, or refusing work (OOM, NOPERM): kept for the next attempt.
                    return .stop(reason: "\(error)")
                } catch {
                    // Redis answered with an error about this entry (no model to price with, ...),
                    // or its api_key is gone: retrying cannot help. Kept apart for an operator.
                    gateway.logger.error("spool entry cannot be replayed", metadata: ["spool.request_id": "\(entry.requestID)", "spool.error": "\(error)"])
                    return .deadLetter(reason: (error as? EngineError)?.message ?? "\(error)")
                }
            }
        } catch {
            gateway.logger.error("spool replay failed", metadata: ["spool.error": "\(error)"])
            return
        }
        if let interruption = report.interruption {
            gateway.logger.warning("spool replay paused: Redis cannot take it now", metadata: ["spool.error": "\(interruption)"])
            return
        }
        if report.unreadable > 0 {
            gateway.logger.error("spool lines unreadable, moved to the dead letters",
                                 metadata: ["spool.unreadable": "\(report.unreadable)", "spool.dead_letters": "\(gateway.spool.deadLetterPath)"])
        }
        gateway.logger.info("spool replayed", metadata: ["spool.entries": "\(report.entries)", "spool.dead_lettered": "\(report.deadLettered)"])
    }
}
