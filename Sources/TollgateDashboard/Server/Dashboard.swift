import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import TollgateCore
import TollgateRedis

/// The configuration a dashboard keeps of each version.
struct DashboardSnapshot: Sendable {
    var configuration: TollgateConfiguration
    var version: Int64
}

/// The dashboard: read-only pages over the monitor's roll-ups and the live counters, for
/// operators and, scoped to one organisation, for customers. Reads Redis through a
/// read-only user (`tollgate acl --dashboard-password`); never reads the ledger.
public final class Dashboard: Sendable {
    public let configuration: DashboardConfiguration
    let watcher: ConfigurationWatcher<DashboardSnapshot>
    let redis: any RedisExecutor
    let keyPrefix: String
    let scripts: QuotaScripts
    let live: LiveFeed
    let logger: Logger
    let customers: DashboardCustomers

    public init(configuration: DashboardConfiguration, redis: any RedisExecutor, redisConfiguration: RedisConfiguration,
                keyPrefix: String, logger: Logger) throws {
        self.configuration = configuration
        self.redis = redis
        self.keyPrefix = keyPrefix
        self.logger = logger
        scripts = try QuotaScripts.load()
        live = LiveFeed(configuration: redisConfiguration, channel: KeyLayout(prefix: keyPrefix).eventsChannel, logger: logger)
        watcher = ConfigurationWatcher(
            store: ConfigurationStore(redis: redis, keys: KeyLayout(prefix: keyPrefix)),
            subscriberConfiguration: redisConfiguration, pollInterval: configuration.configurationPollInterval, logger: logger,
            makeSnapshot: { DashboardSnapshot(configuration: $0, version: $1) })
        let watcher = self.watcher
        customers = DashboardCustomers(store: CustomerStore(redis: redis, keys: KeyLayout(prefix: keyPrefix)), interval: configuration.configurationPollInterval,
                                       logger: logger, currency: { watcher.snapshot?.configuration.settings.currency ?? .usd })
    }

    /// The services to run next to the HTTP server.
    public var services: [any Service] { [watcher, customers, live] }

    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorPageMiddleware())
        router.get("/healthz") { _, _ in "ok" }
        router.get("/login") { _, _ in Layout.response(Layout.page(title: "Sign in", access: nil, body: Layout.loginForm)) }
        router.post("/login") { request, _ in try await self.login(request) }
        router.get("/logout") { _, _ in
            var response = Response(status: .seeOther, headers: [.location: "/login"])
            response.setCookie(Cookie(name: Access.cookieName, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        router.get("/") { request, _ in try await self.overview(request) }
        router.get("/org/{id}") { request, context in try await self.organization(request, id: context.parameters.get("id") ?? "") }
        router.get("/model/{name}") { request, context in try await self.model(request, name: context.parameters.get("name") ?? "") }
        router.get("/live") { request, _ in try self.livePage(request) }
        router.get("/live/events") { request, _ in try self.liveEvents(request) }
        return router
    }

    // MARK: Shared by every page

    var keys: KeyLayout { KeyLayout(prefix: keyPrefix, partitions: watcher.snapshot?.configuration.settings.partitions ?? 16) }
    var store: RollupStore { RollupStore(redis: redis, keys: keys) }

    func engine(_ configuration: TollgateConfiguration) -> QuotaEngine {
        QuotaEngine(redis: redis, keys: KeyLayout(prefix: keyPrefix, partitions: configuration.settings.partitions), scripts: scripts,
                    clockOffsetMillis: self.configuration.clockOffsetMillis)
    }

    /// The configuration and the request's access; 503 before the first configuration loads.
    func authorize(_ request: Request) throws(DashboardError) -> (TollgateConfiguration, Access) {
        guard let snapshot = watcher.snapshot else { throw DashboardError(.serviceUnavailable, "the configuration has not been loaded yet; retry shortly") }
        let configuration = customers.fill(snapshot.configuration)
        return (configuration, try Access.of(request, configuration: configuration))
    }

    /// The organisation's reporting timezone: its tier's.
    func timezone(of organization: Organization, in configuration: TollgateConfiguration) -> NamedTimeZone {
        tierTimezone(organization.tier, configuration)
    }

    /// A tier's reporting timezone (UTC for an unknown tier).
    func tierTimezone(_ tier: String, _ configuration: TollgateConfiguration) -> NamedTimeZone {
        NamedTimeZone(configuration.tiers[tier]?.timezone ?? "UTC")
    }

    func range(_ request: Request, timezone: NamedTimeZone) throws(DashboardError) -> ReportRange {
        let query = request.uri.queryParameters
        return try ReportRange.parse(from: query.get("from"), to: query.get("to"), tz: query.get("tz"), timezone: timezone,
                                     now: watcher.now + configuration.clockOffsetMillis, maximumDays: configuration.maximumRangeDays)
    }

    func money(_ nanos: Int64, _ configuration: TollgateConfiguration) -> String {
        Money(nanos: nanos, currency: configuration.settings.currency).decimalString
    }

    /// The page, or the CSV of one of its tables when the request asks `csv=<table id>`.
    func render(_ request: Request, title: String, access: Access, range: ReportRange, path: String, timezoneNote: String,
                head: String, keep: [(String, String)] = [], tables: [Table], charts: [String: String] = [:]) throws(DashboardError) -> Response {
        if let wanted = request.uri.queryParameters.get("csv") {
            guard let table = tables.first(where: { $0.id == wanted }) else { throw .notFound("this page has no table '\(wanted.prefix(40))'") }
            return Layout.csv(table, filename: "\(title.lowercased().replacingOccurrences(of: " ", with: "-"))-\(table.id)-\(range.from)-\(range.to)")
        }
        var body = head
        for table in tables {
            if let chart = charts[table.id] { body += "<div class=\"chart\">\(chart)</div>" }
            let kept = keep.map { "&\($0.0)=\(HTML.query($0.1))" }.joined()
            body += table.html(csvLink: "\(path)?\(range.query)\(kept)&csv=\(table.id)")
        }
        return Layout.response(Layout.page(title: title, access: access, body: body, range: range, rangePath: path, keep: keep, timezoneNote: timezoneNote))
    }

    // MARK: Sign-in

    func login(_ request: Request) async throws -> Response {
        guard let snapshot = watcher.snapshot else { throw DashboardError(.serviceUnavailable, "the configuration has not been loaded yet; retry shortly") }
        let body = try await request.body.collect(upTo: 4_096)
        let form = String(buffer: body)
        var secret = ""
        for pair in form.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0] == "token" { secret = parts[1].replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
        }
        guard let token = Access.token(secret, snapshot.configuration) else {
            throw DashboardError(.unauthorized, "that dashboard token is not valid, or was revoked")
        }
        let home = token.scope == .operator ? "/" : "/org/\(HTML.query(token.organization ?? ""))"
        var response = Response(status: .seeOther, headers: [.location: home])
        response.setCookie(Cookie(name: Access.cookieName, value: secret, path: "/", httpOnly: true, sameSite: .strict))
        return response
    }
}
