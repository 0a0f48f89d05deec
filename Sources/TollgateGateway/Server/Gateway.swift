import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import TollgateCore
import TollgateRedis

/// One gateway node: the HTTP API over the quota engine, with its configuration watcher,
/// circuit breaker, spool and metrics. Stateless apart from the spool file: any number of
/// nodes share one Redis.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let watcher: ConfigurationWatcher<GatewaySnapshot>
    /// Redis' clock as the scripts see it: plans, refusal counts and spool times agree with them.
    var now: Int64 { watcher.now + configuration.clockOffsetMillis }
    /// Customers this node has needed lately, kept current by ``customerFeed``.
    public let customers: CustomerCache
    public let customerFeed: CustomerChangeFeed
    let customerStore: CustomerStore
    let redis: any RedisExecutor
    let keyPrefix: String
    let scripts: QuotaScripts
    let breaker: CircuitBreaker
    let spool: Spool
    /// Proxied calls in flight (nil when `--no-call-journal`).
    let journal: CallJournal?
    let spoolGauges: SpoolGauges
    let metrics: GatewayMetrics
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    let events: EventPublisher
    let refusals: RefusalCounter
    let upstreamClient: UpstreamClient
    /// Proxied calls' commits, run after their answers have gone out.
    let settlements = SettlementQueue()
    /// Batches the engine's calls per partition while one is in flight (nil: `--no-batch-calls`).
    let coalescer: CallCoalescer?
    private let shuttingDown = Atomic<Bool>(false)

    /// - Parameters:
    ///   - redis: the client every request uses.
    ///   - redisConfiguration: how to open the watcher's own subscriber connection.
    ///   - registry: where this node's metrics live; `/metrics` renders it.
    public init(configuration: GatewayConfiguration, redis: any RedisExecutor, redisConfiguration: RedisConfiguration,
                keyPrefix: String, registry: PrometheusCollectorRegistry, logger: Logger) throws {
        self.configuration = configuration
        self.redis = redis
        self.keyPrefix = keyPrefix
        self.registry = registry
        self.logger = logger
        scripts = try QuotaScripts.load()
        coalescer = configuration.batchCalls ? CallCoalescer(redis: redis) : nil
        upstreamClient = UpstreamClient(configuration: configuration.proxy)
        events = EventPublisher(redis: redis, channel: KeyLayout(prefix: keyPrefix).eventsChannel)
        refusals = RefusalCounter(redis: redis, logger: logger)
        let factory = DescribedMetricsFactory(registry: registry, descriptions: GatewayMetrics.descriptions)
        let metrics = GatewayMetrics(factory: factory)
        self.metrics = metrics
        breaker = CircuitBreaker(threshold: configuration.breakerFailureThreshold, cooldown: configuration.breakerCooldown) { before, after in
            Gateway.reportBreaker(from: before, to: after, metrics: metrics, logger: logger)
        }
        metrics.breakerState.record(0)
        spool = try Spool(path: configuration.spoolPath, limitBytes: configuration.spoolLimitBytes)
        journal = configuration.proxy.callJournal ? try CallJournal(spoolPath: configuration.spoolPath) : nil
        spoolGauges = SpoolGauges(factory: factory)
        logger.info("spool taken", metadata: ["spool.path": "\(SpoolLock.absolute(configuration.spoolPath))"])
        watcher = ConfigurationWatcher(
            store: ConfigurationStore(redis: redis, keys: KeyLayout(prefix: keyPrefix)),
            subscriberConfiguration: redisConfiguration, pollInterval: configuration.configurationPollInterval, logger: logger,
            makeSnapshot: { GatewaySnapshot(configuration: $0, version: $1) },
            onChange: { _, version in metrics.configurationVersion.record(version) })
        customerStore = CustomerStore(redis: redis, keys: KeyLayout(prefix: keyPrefix))
        customers = CustomerCache(capacity: configuration.customerCacheSize, negativeTTL: configuration.negativeCacheTTL)
        customerFeed = CustomerChangeFeed(store: customerStore, cache: customers, subscriberConfiguration: redisConfiguration,
                                          pollInterval: configuration.configurationPollInterval, readGap: configuration.customerFeedGap,
                                          preloadLimit: configuration.customerPreload,
                                          partitions: { [watcher] in watcher.snapshot?.configuration.settings.partitions },
                                          startsWhen: { [watcher] in watcher.snapshot != nil }, logger: logger)
    }

    /// The background services of the node, to run alongside the HTTP server. The upstream
    /// client comes first so that it stops last, after the server has drained; the settlement
    /// queue last, so that it stops first after the server, while Redis, the spool and its
    /// replayer still run.
    public var services: [any Service] {
        [upstreamClient, watcher, customerFeed, SpoolReplayer(gateway: self), events, refusals, settlements]
    }

    /// Runs after the others stop taking work on SIGTERM: reports "not ready" first, then
    /// gives load balancers `drainDelay` to notice before the server drains.
    public var readinessGate: some Service { ReadinessGate(gateway: self) }

    func beginShutdown() { shuttingDown.store(true, ordering: .relaxed) }

    public var isReady: Bool {
        !shuttingDown.load(ordering: .relaxed) && watcher.snapshot != nil && customerFeed.isStarted && breaker.isClosed
    }

    /// The engine for a snapshot (its partition count shapes the key layout).
    func engine(for snapshot: GatewaySnapshot) -> QuotaEngine {
        QuotaEngine(redis: redis, keys: KeyLayout(prefix: keyPrefix, partitions: snapshot.configuration.settings.partitions),
                    scripts: scripts, clockOffsetMillis: configuration.clockOffsetMillis, coalescer: coalescer)
    }

    // MARK: Router

    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/v1/reserve") { request, _ in await self.handle("reserve", request, self.reserve) }
        router.post("/v1/commit") { request, _ in await self.handle("commit", request) { try await self.settle($0, kind: .commit) } }
        router.post("/v1/record") { request, _ in await self.handle("record", request) { try await self.settle($0, kind: .record) } }
        router.post("/v1/tokens/count") { request, _ in await self.handle("tokens_count", request, self.countTokens) }
        router.post("/v1/release") { request, _ in await self.handle("release", request, self.release) }
        router.get("/v1/quota/{api_key}") { request, context in
            let apiKey = context.parameters.get("api_key") ?? ""
            return await self.handle("quota", request) { try await self.quota($0, apiKey: apiKey) }
        }
        for api in ProviderAPI.allCases {
            router.post(RouterPath(api.path)) { request, _ in
                await self.handle(api.rawValue, request, renderError: api.errorResponse) { try await self.proxy(api, $0) }
            }
        }
        router.get("/healthz") { _, _ in JSONResponse.make(["status": "alive"]) }
        router.get("/readyz") { _, _ in await self.readiness() }
        router.get("/metrics") { _, _ in self.metricsResponse() }
        // Last: it then runs only for requests no route matched.
        router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
        return router
    }

    /// Runs a handler, turning every error into the API's JSON error shape, and times it.
    private func handle(_ route: String, _ request: Request, renderError: (APIError) -> Response = { $0.response() },
                        _ body: (Request) async throws -> Response) async -> Response {
        let started = ContinuousClock.now
        let response: Response
        do {
            response = try await body(request)
        } catch let error as APIError {
            if error.status.code < 500 { metrics.decision(result: "rejected", reason: error.code) }
            response = renderError(error)
        } catch {
            logger.error("unexpected error", metadata: ["http.route": "\(route)", "error": "\(error)"])
            response = renderError(APIError(.internalServerError, "internal", "an internal error occurred"))
        }
        let elapsed = ContinuousClock.now - started
        metrics.requestDuration(route: route, status: response.status.code,
                                nanoseconds: elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        return response
    }

    private func readiness() async -> Response {
        // Unless the breaker is closed, readiness itself probes Redis (once the cooldown is
        // over), so an idle node does not stay "not ready" after Redis is back.
        if !breaker.isClosed, breaker.wouldAdmit {
            _ = try? await throughBreaker(route: "readyz") { try await redis.send("PING") }
        }
        let snapshot = watcher.snapshot
        let shutting = shuttingDown.load(ordering: .relaxed)
        let ready = isReady
        let body: [String: String] = [
            "status": ready ? "ready" : "not_ready",
            "configuration_version": snapshot.map { String($0.version) } ?? "none",
            "redis": breakerStateName,
            "shutting_down": shutting ? "true" : "false",
        ]
        return JSONResponse.make(status: ready ? .ok : .serviceUnavailable, body)
    }

    private func metricsResponse() -> Response {
        spoolGauges.update(spool.status, now: self.now)
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
    }

    // MARK: Shared request steps

    /// Authentication, body, JSON: the steps every POST shares.
    /// `limit`: the body limit (the prompt routes take ``GatewayConfiguration/promptBodyLimit``).
    func prelude(_ request: Request, limit: Int? = nil) async throws -> (GatewaySnapshot, ServiceToken, RequestFields) {
        guard let snapshot = watcher.snapshot else { throw APIError.notReady }
        guard let token = try await authenticate(request.headers, snapshot: snapshot) else { throw APIError.unauthorized }
        guard Self.isJSON(request.headers[.contentType]) else { throw APIError.unsupportedMediaType }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit ?? configuration.bodyLimit)
        } catch {
            throw APIError.tooLarge
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(body.readableBytesView)
        } catch {
            throw APIError.malformed("the body is not valid JSON: \(error.description)")
        }
        return (snapshot, token, try RequestFields(json))
    }

    /// Whether a Content-Type names JSON (`application/json`, parameters such as charset allowed).
    public static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return mediaType.lowercased() == "application/json"
    }

    /// The customer store in the snapshot's currency.
    func customerStore(_ snapshot: GatewaySnapshot) -> CustomerStore {
        var store = customerStore
        store.currency = snapshot.configuration.settings.currency
        return store
    }

    /// The live service token a request presents, from the customer cache (one round trip on
    /// a miss; 503 when Redis cannot answer it).
    func authenticate(_ headers: HTTPFields, snapshot: GatewaySnapshot) async throws -> ServiceToken? {
        guard let secret = ServiceTokenAuthenticator.secret(headers) else { return nil }
        return try await authenticate(secret: secret, snapshot: snapshot)
    }

    func authenticate(secret: some StringProtocol, snapshot: GatewaySnapshot) async throws -> ServiceToken? {
        guard let hash = ServiceTokenAuthenticator.hash(secret: secret, cache: snapshot.hashes) else { return nil }
        let store = customerStore(snapshot)
        let token = try await lookUp { try await self.customers.token(sha256: hash, store: store) }
        return token.flatMap { $0.revoked ? nil : $0 }
    }

    /// The request's plan, refusing keys the token may not act for. The customer comes from the
    /// cache: on a miss, one round trip to Redis.
    func plan(_ snapshot: GatewaySnapshot, token: ServiceToken, apiKey: String, user: String?, at time: Int64) async throws -> RequestPlan {
        let store = customerStore(snapshot)
        guard Identifier.isValid(apiKey), let customer = try await lookUp({ try await self.customers.customer(key: apiKey, store: store) }) else {
            throw APIError(.notFound, "unknown_api_key", "unknown api_key", field: "api_key")
        }
        guard token.allows(organization: customer.organization.id) else { throw APIError.forbiddenOrganization }
        do {
            return try snapshot.configuration.plan(customer, user: user, at: time)
        } catch {
            throw APIError(planError: error)
        }
    }

    /// A customer look-up; Redis failures answer 503 (a miss cannot be decided without Redis).
    private func lookUp<Value>(_ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch let error as RedisError {
            logger.warning("customer look-up failed", metadata: ["redis.error": "\(error.message)"])
            throw APIError(.serviceUnavailable, "redis_unavailable", "customer records are unreachable (\(error.message)); retry shortly", headers: [.retryAfter: "1"])
        }
    }

    func price(_ model: String, _ snapshot: GatewaySnapshot, _ plan: RequestPlan, at time: Int64) throws -> ResolvedPrice {
        do {
            return try snapshot.configuration.price(model, for: plan, at: time)
        } catch {
            throw APIError(planError: error)
        }
    }
}

extension APIError {
    init(planError: PlanError) {
        switch planError.kind {
        case .unknownKey: self.init(.notFound, "unknown_api_key", planError.message, field: "api_key")
        case .suspended: self.init(.forbidden, "suspended", planError.message, field: "api_key")
        case .unknownModel: self.init(.unprocessableContent, "unknown_model", planError.message, field: "model")
        case .modelNotAllowed: self.init(.forbidden, "model_not_allowed", planError.message, field: "model")
        case .invalid: self.init(.unprocessableContent, "invalid_request", planError.message)
        }
    }
}

/// Reports "not ready" on SIGTERM, then waits for load balancers to notice.
struct ReadinessGate: Service {
    let gateway: Gateway

    func run() async throws {
        try? await gracefulShutdown()
        gateway.beginShutdown()
        gateway.logger.info("shutting down: readiness now fails; draining", metadata: ["gateway.drain_ms": "\(gateway.configuration.drainDelay.components.seconds * 1000 + gateway.configuration.drainDelay.components.attoseconds / 1_000_000_000_000_000)"])
        try? await Task.sleep(for: gateway.configuration.drainDelay)
    }
}
