import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import TollgateCore
import TollgateGateway
import TollgateRedis

/// The admin HTTP API (`tollgate admin-api`): provisioning, prices, tiers, budgets and usage
/// for signup and billing systems, on its own listener, authenticated by admin tokens.
///
/// Reads answer from Redis (a create is visible to the next read), writes go through the
/// same audited, all-or-nothing steps as the CLI; the admin tokens come from a configuration
/// watcher's snapshot, so a revocation takes effect within a poll interval.
public final class AdminAPI: Sendable {
    public let configuration: AdminAPIConfiguration
    let watcher: ConfigurationWatcher<AdminSnapshot>
    let redis: any RedisExecutor
    let store: ConfigurationStore
    let customerStore: CustomerStore
    let idempotency: IdempotencyStore
    let scripts: QuotaScripts
    let logger: Logger

    /// `customers`: the store as ``CustomerStore/open(redis:keys:changeStreamLength:)`` opened it.
    public init(configuration: AdminAPIConfiguration, redis: any RedisExecutor, redisConfiguration: RedisConfiguration,
                customers: CustomerStore, logger: Logger) throws {
        self.configuration = configuration
        self.redis = redis
        self.logger = logger
        let keys = customers.keys
        customerStore = customers
        store = ConfigurationStore(redis: redis, keys: keys)
        scripts = try QuotaScripts.load()
        idempotency = IdempotencyStore(redis: redis, keys: keys, retention: configuration.idempotencyRetention, wait: configuration.idempotencyWait)
        watcher = ConfigurationWatcher(store: store, subscriberConfiguration: redisConfiguration,
                                       pollInterval: configuration.configurationPollInterval, logger: logger,
                                       makeSnapshot: { configuration, _ in AdminSnapshot(configuration: configuration) })
    }

    /// The services to run next to the HTTP server.
    public var services: [any Service] { [watcher] }

    /// Every route: the router registers exactly these, and Docs/admin-openapi.yaml documents them.
    var routes: [AdminRoute] {
        organizationRoutes + workspaceRoutes + keyRoutes + serviceTokenRoutes + tierRoutes + priceRoutes + budgetRoutes
    }

    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        for route in routes {
            router.on(RouterPath(route.path), method: route.method) { request, context in
                await self.dispatch(route, request, context)
            }
        }
        router.get("/healthz") { _, _ in JSONResponse.make(["status": "alive"]) }
        router.get("/readyz") { _, _ in
            let ready = self.watcher.snapshot != nil
            return JSONResponse.make(status: ready ? .ok : .serviceUnavailable, ["status": ready ? "ready" : "not_ready"])
        }
        // Last: it then runs only for requests no route matched.
        router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
        router.add(middleware: NotFoundMiddleware())
        return router
    }

    /// The configuration now (not the watcher's snapshot: a read sees the writes before it).
    func load() async throws -> TollgateConfiguration { try await store.load().configuration }

    /// Redis' clock, ms since 1970.
    func now() async throws -> Int64 { try await store.versionAndTime().redisTime }

    /// One audited change of the configuration by the calling token.
    func change(_ call: AdminCall, _ action: String, reason: String, _ edit: (inout TollgateConfiguration) throws -> AuditValues?) async throws {
        try await store.change(actor: call.token.actor, action: action, reason: reason, edit)
    }
}

/// What the admin API keeps of each configuration version: its admin tokens by hash.
struct AdminSnapshot: Sendable {
    let tokensByHash: [String: AdminToken]

    init(configuration: TollgateConfiguration) {
        tokensByHash = Dictionary(configuration.adminTokens.values.filter { !$0.revoked }.map { ($0.sha256, $0) }, uniquingKeysWith: { $1 })
    }
}

/// A JSON 404 for paths no route knows (Hummingbird's own 404 has no body).
struct NotFoundMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return APIError(.notFound, "not_found", "there is no such route").response()
        }
    }
}
