import Logging
import ServiceLifecycle
import Synchronization
import TollgateCore
import TollgateRedis

/// The dashboard's view of the customers: every organisation, workspace and key, reloaded
/// from the customer store when its change sequence moves (checked every `interval`). The
/// pages read customers only through ``fill(_:)``. Memory grows with the customers: the
/// dashboard is an operator's tool, not the data plane.
final class DashboardCustomers: Service, Sendable {
    let store: CustomerStore
    let interval: Duration
    let logger: Logger
    let currency: @Sendable () -> Currency
    private let loaded = Mutex<(sequence: Int64, configuration: TollgateConfiguration, trees: [String: CustomerTree], tiers: [String: Int])?>(nil)

    init(store: CustomerStore, interval: Duration, logger: Logger, currency: @escaping @Sendable () -> Currency) {
        self.currency = currency
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    /// `configuration` with the latest customers loaded in it.
    func fill(_ configuration: TollgateConfiguration) -> TollgateConfiguration {
        guard let customers = loaded.withLock({ $0?.configuration }) else { return configuration }
        var filled = configuration
        filled.organizations = customers.organizations
        filled.workspaces = customers.workspaces
        filled.keys = customers.keys
        return filled
    }

    /// The organisation with its workspaces and keys, as last loaded (built once per load).
    func tree(of organization: String) -> CustomerTree? {
        loaded.withLock { $0?.trees[organization] }
    }

    /// How many organisations each tier has, as last loaded (nil before the first load).
    var organizationsPerTier: [String: Int]? {
        loaded.withLock { $0?.tiers }
    }

    /// Reloads if anything changed since the last load.
    func refresh() async {
        do {
            let sequence = try await store.sequence()
            if loaded.withLock({ $0?.sequence }) == sequence { return }
            var store = self.store
            store.currency = currency()
            let customers = try await store.allCustomers(in: TollgateConfiguration())
            let trees = Dashboard.customerTrees(customers)
            let tiers = Dashboard.organizationsPerTier(customers)
            loaded.withLock { $0 = (sequence, customers, trees, tiers) }
        } catch {
            logger.warning("dashboard customer reload failed", metadata: ["redis.error": "\(error)"])
        }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.refresh()
                try? await Task.sleep(for: self.interval)
            }
        }
    }
}
