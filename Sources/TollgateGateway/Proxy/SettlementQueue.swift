import ServiceLifecycle
import Synchronization

/// Settles proxied calls after their answers have gone out, off the request: the client's
/// connection takes its next call as soon as the answer is written, instead of after the
/// commit's round trip to Redis (measured in Docs/benchmarks.md, "Proxy mode").
///
/// A call is in the call journal, with the output it relayed, before its answer goes out, so
/// a gateway killed before the queued commit ran still bills it (``CallJournal``). On
/// graceful shutdown the queue stops after the HTTP server has drained (it is the last of the
/// gateway's own services, so the first stopped after the server) and runs what it holds
/// before it returns. While it is not running (a gateway used without its services, as the
/// router tests do), work runs inline.
final class SettlementQueue: Service, Sendable {
    typealias Work = @Sendable () async -> Void

    private let stream: AsyncStream<Work>
    private let continuation: AsyncStream<Work>.Continuation
    private let running = Atomic<Bool>(false)

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Work.self)
    }

    /// Whether work is queued (true from ``run()``'s start until it returns).
    var isRunning: Bool { running.load(ordering: .acquiring) }

    /// Runs `work` soon, without waiting for it; inline when the queue is not running.
    func settle(_ work: @escaping Work) async {
        guard isRunning else { return await work() }
        if case .terminated = continuation.yield(work) { await work() }
    }

    func run() async throws {
        running.store(true, ordering: .releasing)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await work in stream {
                    group.addTask { await work() }
                }
            }
        } onGracefulShutdown: {
            // The server has drained: nothing more is queued. What is queued still runs.
            self.continuation.finish()
        }
        running.store(false, ordering: .releasing)
    }
}
