import Foundation
import Logging
import RedisTestSupport
import Testing
import TollgateCore
@testable import TollgateDashboard
import TollgateRedis

/// The live feed fans the events channel out to every open page, each filtered by its token.
@Suite(.enabled(if: RedisServer.isAvailable, "redis-server is not installed"))
struct LiveFeedTests {
    @Test func publishedEventsReachEveryListenerWithTheirOrganization() async throws {
        let fixture = try await DashboardFixture.make()
        let feed = LiveFeed(configuration: fixture.redisConfiguration, channel: fixture.keys.eventsChannel,
                            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let first = feed.listen(), second = feed.listen()
        #expect(feed.listenerCount == 2)
        let received = try await withThrowingTaskGroup(of: LiveFeed.Event?.self) { group in
            group.addTask { try await feed.run(); return nil }
            group.addTask {
                // Published until the subscriber is in place (bounded: 100 × 50 ms).
                for _ in 0..<100 {
                    _ = try await fixture.client.send("PUBLISH", fixture.keys.eventsChannel, #"{"at":1,"type":"limited","organization":"globex","reason":"tpm"}"#)
                    try await Task.sleep(for: .milliseconds(50))
                }
                return nil
            }
            group.addTask { await first.first { _ in true } }
            group.addTask { await second.first { _ in true } }
            var events: [LiveFeed.Event] = []
            while events.count < 2, let result = try await group.next() {
                if let event = result { events.append(event) }
            }
            group.cancelAll()
            return events
        }
        #expect(received.map(\.organization) == ["globex", "globex"])
        #expect(received.first?.json.contains(#""reason":"tpm""#) == true)
        #expect(Access.operator.allows("globex") && !Access.customer("acme").allows("globex"))
        try await fixture.cleanUp()
    }
}
