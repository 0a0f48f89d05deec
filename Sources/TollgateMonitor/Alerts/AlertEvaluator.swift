import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TollgateCore
import TollgateRedis

/// Looks at every organisation's budgets and windows on an interval and fires alerts:
/// each tier's thresholds (e.g. 50/80/90/100%) of daily and monthly budgets, TPM saturated
/// for the tier's number of minutes, and the projected exhaustion of the monthly budget at
/// the last 24 hours' rate. Each fires once per subject, threshold and period, however many
/// monitors run (a marker key in Redis, set only if absent, decides).
final class AlertEvaluator: Service, Sendable {
    let monitor: Monitor
    /// When each subject's TPM became saturated (this monitor's observation).
    let saturatedSince = Mutex<[String: Int64]>([:])
    /// Where this evaluator's reading of each partition's ledger got to (stream ids).
    let ledgerCursors = Mutex<[Int: String]>([:])

    init(monitor: Monitor) { self.monitor = monitor }

    func run() async throws {
        guard await monitor.snapshot() != nil else { return }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if let snapshot = self.monitor.watcher.snapshot { await self.evaluate(snapshot) }
                try? await Task.sleep(for: self.monitor.configuration.alertInterval)
            }
        }
    }

    /// One pass; returns the alerts fired.
    @discardableResult
    func evaluate(_ snapshot: MonitorSnapshot) async -> [Alert] {
        let engine = monitor.engine(snapshot)
        let keys = monitor.keys(snapshot)
        let now = monitor.now
        var fired: [Alert] = []
        var spendByTier: [String: (spent: Int64, remaining: Int64?)] = [:]
        let store = monitor.customerStore(snapshot)
        for id in await activeOrganizations(keys: keys, now: now) {
            let tree: CustomerTree?
            do {
                tree = try await store.tree(of: id)
            } catch {
                monitor.logger.warning("alert evaluation skipped an organization", metadata: ["alert.organization": "\(id)", "redis.error": "\(error)"])
                continue
            }
            guard let tree else { continue }
            let organization = tree.organization
            let configuration = snapshot.configuration.including(tree)
            guard let tier = configuration.tiers[organization.tier] else { continue }
            let timezone = configuration.timezone(of: organization.id)
            let governed: [GovernedLevel]
            let quota: QuotaSnapshot
            do {
                let users = configuration.userCapTiers(of: organization.id).isEmpty ? [] : try await engine.users(organization: organization.id)
                governed = configuration.governedLevels(of: organization.id, users: users) ?? []
                quota = try await engine.quota(organization: organization.id, levels: governed.map(\.level), timezone: timezone, settings: configuration.settings)
            } catch {
                monitor.logger.warning("alert evaluation skipped an organization", metadata: ["alert.organization": "\(organization.id)", "redis.error": "\(error)"])
                continue
            }
            let day = PeriodCalendar(timezone: timezone).dayLabel(now)
            let month = String(day.prefix(7))
            let currency = configuration.settings.currency
            for (usage, level) in zip(quota.levels, governed) {
                let limits = usage.level.limits
                let budgets: [(String, Int64, Int64?, String, Int64, Bool)] = [
                    ("budget_daily", usage.daySpent.nanos + usage.dayHeld.nanos, limits.dailyBudget?.nanos, day, quota.dayResetsAt, true),
                    ("budget_monthly", usage.monthSpent.nanos + usage.monthHeld.nanos, limits.monthlyBudget?.nanos, month, quota.monthResetsAt, true),
                    ("tokens_daily", usage.dayTokens, limits.dailyTokens, day, quota.dayResetsAt, false),
                    ("tokens_monthly", usage.monthTokens, limits.monthlyTokens, month, quota.monthResetsAt, false),
                ]
                for (limit, used, maximum, period, resetsAt, money) in budgets {
                    guard let maximum, maximum > 0 else { continue }
                    let percent = Int(Double(used) / Double(maximum) * 100)
                    for threshold in level.tier.alertThresholds.sorted() where percent >= threshold {
                        let show = { (value: Int64) in money ? Money(nanos: value, currency: currency).decimalString + " " + currency.code : "\(value) tokens" }
                        let alert = Alert(kind: "budget_threshold", organization: organization.id, scope: usage.level.scope.rawValue, subject: usage.level.id,
                                          limit: limit, threshold: threshold, percent: percent, used: show(used), of: show(maximum), period: period,
                                          message: "\(organization.id) \(usage.level.scope.rawValue) \(usage.level.id): \(percent)% of the \(limit.replacingOccurrences(of: "_", with: " ")) used (\(show(used)) of \(show(maximum))) — threshold \(threshold)%",
                                          at: now, id: "\(organization.id)/\(level.subject)/\(limit)/\(threshold)/\(period)")
                        if await fireOnce(alert, keys: keys, until: resetsAt + 86_400_000) { fired.append(alert) }
                    }
                }
                if let tpm = limits.tpm, usage.windowTracked {
                    let subject = "\(organization.id)/\(level.subject)"
                    let saturated = Double(usage.windowTokens) >= monitor.configuration.saturationRatio * Double(tpm)
                    let since = saturatedSince.withLock { state -> Int64? in
                        if saturated {
                            if state[subject] == nil { state[subject] = now }
                            return state[subject]
                        }
                        state[subject] = nil
                        return nil
                    }
                    if let since, now - since >= Int64(level.tier.tpmSaturationMinutes) * 60_000 {
                        let hour = RollupPeriod.hour.label(now, timezone: timezone)
                        let alert = Alert(kind: "tpm_saturated", organization: organization.id, scope: usage.level.scope.rawValue, subject: usage.level.id,
                                          limit: "tpm", threshold: Int(monitor.configuration.saturationRatio * 100),
                                          percent: Int(usage.windowTokens * 100 / max(1, tpm)), used: "\(usage.windowTokens) tokens", of: "\(tpm) tokens",
                                          period: hour, message: "\(organization.id) \(usage.level.scope.rawValue) \(usage.level.id): TPM saturated for \(level.tier.tpmSaturationMinutes) minutes or more",
                                          at: now, id: "\(subject)/tpm_saturated/\(hour)")
                        if await fireOnce(alert, keys: keys, until: now + 3_600_000) { fired.append(alert) }
                    }
                }
            }
            // Projection: the organisation's monthly budget at the last 24 hours' spend rate.
            let orgUsage = quota.levels[0]
            if let budget = orgUsage.level.limits.monthlyBudget, budget.nanos > 0 {
                let rate = await lastDaySpend(organization: organization.id, timezone: timezone, now: now, keys: keys)
                let remaining = budget.nanos - orgUsage.monthSpent.nanos - orgUsage.monthHeld.nanos
                if rate > 0, remaining > 0 {
                    let exhaustion = now + Int64(Double(remaining) / Double(rate) * 86_400_000)
                    if exhaustion < quota.monthResetsAt {
                        let date = PeriodCalendar(timezone: timezone).dayLabel(exhaustion)
                        let alert = Alert(kind: "budget_projection", organization: organization.id, scope: "organization", subject: organization.id,
                                          limit: "budget_monthly", threshold: 0, percent: Int(Double(budget.nanos - remaining) / Double(budget.nanos) * 100),
                                          used: Money(nanos: budget.nanos - remaining, currency: currency).decimalString + " " + currency.code,
                                          of: budget.decimalString + " " + currency.code, period: day,
                                          message: "\(organization.id): at the last 24 h's rate (\(Money(nanos: rate, currency: currency).decimalString) \(currency.code)/day), the monthly budget runs out on \(date)",
                                          at: now, id: "\(organization.id)/o/projection/\(day)")
                        if await fireOnce(alert, keys: keys, until: quota.dayResetsAt + 86_400_000) { fired.append(alert) }
                    }
                }
            }
            if let alert = await cacheHitAlert(organization: organization.id, tier: tier, timezone: timezone, now: now, keys: keys),
               await fireOnce(alert, keys: keys, until: quota.dayResetsAt + 86_400_000) {
                fired.append(alert)
            }
            var totals = spendByTier[tier.name] ?? (0, nil)
            totals.spent += orgUsage.daySpent.nanos
            if let daily = orgUsage.level.limits.dailyBudget {
                totals.remaining = (totals.remaining ?? 0) + max(0, daily.nanos - orgUsage.daySpent.nanos - orgUsage.dayHeld.nanos)
            }
            spendByTier[tier.name] = totals
        }
        let currency = snapshot.configuration.settings.currency
        for (tier, totals) in spendByTier {
            monitor.metrics.tierSpend(tier: tier, currency: currency, spent: Money(nanos: totals.spent, currency: currency),
                                      remaining: totals.remaining.map { Money(nanos: $0, currency: currency) })
        }
        return fired
    }

    /// The organisations worth a look, by id — not every organisation: those the ledger
    /// consumers saw active in the last 25 hours (the projection's day and a margin; older
    /// activity is trimmed here), those with a live hold, and those in the ledger entries this
    /// evaluator has not read yet (from 25 hours before its first pass, 5,000 per partition
    /// per pass), so usage not rolled up yet is not missed.
    func activeOrganizations(keys: KeyLayout, now: Int64) async -> [String] {
        let since = now - 25 * 3_600_000
        let cursors = ledgerCursors.withLock { $0 }
        var commands: [RedisCommand] = []
        for partition in 0..<keys.partitions {
            commands.append(.keyed("ZREMRANGEBYSCORE", keys.activeOrganizations(partition: partition), "-inf", "(\(since)"))
            commands.append(.keyed("ZRANGE", keys.activeOrganizations(partition: partition), 0, -1))
            commands.append(.keyed("ZRANGE", keys.holds(partition: partition), 0, -1))
            commands.append(.keyed("XRANGE", keys.ledger(partition: partition), cursors[partition].map { "(" + $0 } ?? "\(since)-0", "+", "COUNT", 5_000))
        }
        var found = Set<String>()
        var advanced: [Int: String] = [:]
        for (index, result) in await monitor.redis.pipeline(commands).enumerated() {
            guard let items = try? result.get().array else { continue }
            switch index % 4 {
            case 1: found.formUnion(items.compactMap(\.string))
            case 2: found.formUnion(items.compactMap { $0.string.map { String($0.prefix { $0 != ":" }) } })  // `organization:request id`
            case 3:
                for item in items {
                    guard let parts = item.array, parts.count == 2, let id = parts[0].string else { continue }
                    advanced[index / 4] = id
                    let fields = parts[1].array ?? []
                    if fields.count == 2, let line = fields[1].string, let entry = LedgerEntry(id: id, line: line) { found.insert(entry.organization) }
                }
            default: break
            }
        }
        ledgerCursors.withLock { $0.merge(advanced) { $1 } }
        return found.sorted()
    }

    /// Sets the alert's marker if absent; only the monitor that sets it delivers the alert,
    /// and adds it to the organisation's alert log (newest first, the last `alertLogLength`,
    /// kept `alertLogSeconds`), which the dashboard's organisation page shows.
    func fireOnce(_ alert: Alert, keys: KeyLayout, until expiry: Int64) async -> Bool {
        let marker = keys.alertMarker(organization: alert.organization, name: alert.id)
        guard let reply = try? await monitor.redis.send(.keyed("SET", marker, Array(alert.json()), "NX", "PXAT", max(expiry, monitor.now + 60_000))),
              reply == .status("OK") else { return false }
        let log = keys.alertLog(organization: alert.organization)
        for result in await monitor.redis.pipeline([.keyed("LPUSH", log, Array(alert.json())), .keyed("LTRIM", log, 0, Self.alertLogLength - 1),
                                                    .keyed("EXPIRE", log, Self.alertLogSeconds)]) {
            if case .failure(let error) = result {
                monitor.logger.warning("alert log not written", metadata: ["alert.id": "\(alert.id)", "redis.error": "\(error)"])
            }
        }
        monitor.alerts.fire(alert)
        return true
    }

    static let alertLogLength = 200
    static let alertLogSeconds = 90 * 86_400

    /// The organisation's cache-hit rate today against its tier's floor (off unless the tier
    /// sets `cache_hit_alert_percent`), from the overview roll-up's two counters: of the
    /// requests that said whether their prompt hit the cache, those that did.
    func cacheHitAlert(organization: String, tier: Tier, timezone: TimeZone, now: Int64, keys: KeyLayout) async -> Alert? {
        guard let floor = tier.cacheHitAlertPercent else { return nil }
        let day = RollupPeriod.day.label(now, timezone: timezone)
        let details = keys.overviewDetails(partition: keys.partition(of: organization), period: .day, label: day)
        guard let values = try? await monitor.redis.send(.keyed("HMGET", details, "o\t\(organization)\tcache_known", "o\t\(organization)\tcache_hits")).array,
              values.count == 2, let known = values[0].int, known >= tier.cacheHitAlertMinimumRequests else { return nil }
        let hits = values[1].int ?? 0
        guard hits * 100 < Int64(floor) * known else { return nil }
        let percent = Int(hits * 100 / known)
        let date = PeriodCalendar(timezone: timezone).dayLabel(now)
        return Alert(kind: "cache_hit_low", organization: organization, scope: "organization", subject: organization, limit: "cache_hit_rate",
                     threshold: floor, percent: percent, used: "\(hits) cache hits", of: "\(known) requests", period: date,
                     message: "\(organization): cache-hit rate \(percent)% today (\(hits) of \(known) requests) is below the tier's \(floor)%",
                     at: now, id: "\(organization)/o/cache_hit/\(date)")
    }

    /// Cost (nanos) of the organisation's last 24 hours, from the monitor's hourly totals.
    func lastDaySpend(organization: String, timezone: TimeZone, now: Int64, keys: KeyLayout) async -> Int64 {
        let labels = (0..<24).map { RollupPeriod.hour.label(now - Int64($0) * 3_600_000, timezone: timezone) }
        let commands = Set(labels).map { RedisCommand.keyed("GET", keys.hourlyCost(organization: organization, label: $0)) }
        return await monitor.redis.pipeline(commands).reduce(Int64(0)) { sum, result in sum + ((try? result.get().int) ?? 0) }
    }
}
