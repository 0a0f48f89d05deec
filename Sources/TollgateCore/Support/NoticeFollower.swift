import Logging
import ServiceLifecycle
import TollgateRedis

/// How a process follows state that other processes change: `refresh` runs on every notice
/// published on `channel` and every (re)subscription (either may mean changes were missed),
/// and at least every `pollInterval`, so a lost notice costs at most one interval. Runs are one
/// at a time; triggers that arrive during a run collapse into one more run. Returns when
/// cancelled or on graceful shutdown.
func followNotices(on channel: String, subscriberConfiguration: RedisConfiguration, pollInterval: Duration, logger: Logger,
                   refresh: @escaping @Sendable () async -> Void) async {
    let subscriber = RedisSubscriber(configuration: subscriberConfiguration, channels: [channel], logger: logger)
    let (triggers, trigger) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    await withGracefulShutdownHandler {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in subscriber.events { trigger.yield() }
            }
            group.addTask {
                while !Task.isCancelled {
                    trigger.yield()
                    try? await Task.sleep(for: pollInterval)
                }
            }
            group.addTask {
                for await _ in triggers {
                    if Task.isCancelled { break }
                    await refresh()
                }
            }
            await group.next()
            group.cancelAll()
        }
    } onGracefulShutdown: {
        trigger.finish()
    }
    await subscriber.shutdown()
}
