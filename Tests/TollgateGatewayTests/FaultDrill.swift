import Foundation
import NIOHTTP1
import RedisTestSupport
import Synchronization
import Testing
import TollgateCore
import TollgateRedis

/// One fault drill: a `redis-server` of its own, a `tollgate serve` process on it with a
/// short breaker cooldown, and app-server traffic (reserve, then commit with the model named)
/// on a fail-closed key (`k1`, organisation acme) and a fail-open key (`g1`, globex) while a
/// fault comes and goes. ``run(_:redisURL:body:)`` tears everything down, also when the
/// test fails halfway.
final class FaultDrill: Sendable {
    /// The gateway's `--redis-timeout-ms`.
    static let redisTimeout = Duration.milliseconds(300)
    static let breakerCooldown = Duration.milliseconds(200)
    /// A call's bound during a fault: one Redis attempt (the timeout) plus a spool append.
    static let callBound = redisTimeout + schedulingSlack
    /// How soon after a fault ends the gateway must be back to real decisions (issue 11).
    static let recoveryGoal = Duration.seconds(2)
    /// Tokens per reservation and per commit: 100 input tokens at $1 per 1M = 100,000 nanos.
    static let tokens = 100
    static let costNanos: Int64 = 100_000

    /// The server the faults are done to (on a cluster: the primary holding `k1`'s keys).
    let server: RedisServer
    let admin: any RedisExecutor
    let prefix: String
    let gateway: GatewayProcess

    private init(server: RedisServer, admin: any RedisExecutor, prefix: String, gateway: GatewayProcess) {
        self.server = server
        self.admin = admin
        self.prefix = prefix
        self.gateway = gateway
    }

    /// Runs `body` with a fresh drill and always cleans up: the gateway is stopped by its PID
    /// (it must exit 0), the server emptied and stopped.
    static func run(_ options: RedisServer.Options = .init(appendOnly: true), redisURL: ((RedisServer) async throws -> String)? = nil,
                    name: String = #function, body: (FaultDrill) async throws -> Void) async throws {
        let server = try await RedisServer.start(options)
        let admin = server.client(timeout: .seconds(5))
        try await perform(server: server, admin: admin, url: { try await redisURL?(server) ?? server.url }, name: name, body: body) {
            // The server is the drill's own: emptying it is the clean-up.
            _ = try? await admin.send("FLUSHALL")
            await admin.shutdown()
            await server.stop()
        }
    }

    /// The same on a cluster of its own (3 primaries, no replicas): the faults are done to the
    /// primary that holds `k1`'s keys (organisation acme).
    static func runOnCluster(name: String = #function, body: (FaultDrill) async throws -> Void) async throws {
        let cluster = try await RedisCluster.start(primaries: 3, replicas: 0)
        let admin = cluster.client(timeout: .seconds(5))
        var owner: RedisServer?
        let probeKey = KeyLayout(prefix: "any", partitions: Settings().partitions).state(organization: "acme")
        // The partition's tag alone decides the slot, whatever the prefix: find its primary.
        for node in cluster.nodes {
            let client = node.client(connections: 1)
            if (try? await client.send("EXISTS", probeKey)) != nil { owner = node }
            await client.shutdown()
        }
        guard let owner else {
            await admin.shutdown()
            await cluster.stop()
            throw HarnessError("no primary owns \(probeKey)")
        }
        try await perform(server: owner, admin: admin, url: { cluster.url }, name: name, body: body) {
            await admin.shutdown()
            await cluster.stop()
        }
    }

    private static func perform(server: RedisServer, admin: any RedisExecutor, url: () async throws -> String, name: String,
                                body: (FaultDrill) async throws -> Void, teardown: () async -> Void) async throws {
        let prefix = uniquePrefix(name)
        let gateway: GatewayProcess
        do {
            try await MultiNodeTests.writeConfiguration(GatewayFixture.configuration(standard: Limits(tpm: 100_000_000)), redis: admin, prefix: prefix)
            gateway = try await GatewayProcess(redisURL: try await url(), prefix: prefix, name: "drill", extra: [
                "--breaker-cooldown-ms", String(breakerCooldown.components.seconds * 1000 + breakerCooldown.components.attoseconds / 1_000_000_000_000_000),
            ])
        } catch {
            await teardown()
            throw error
        }
        let drill = FaultDrill(server: server, admin: admin, prefix: prefix, gateway: gateway)
        var failure: (any Error)?
        do {
            try await body(drill)
        } catch {
            failure = error
        }
        server.resume()
        let status = await gateway.terminate()
        if failure == nil { #expect(status == 0, "gateway exit status; output: \(gateway.process.output.suffix(2_000))") }
        await teardown()
        if let failure { throw failure }
    }

    // MARK: Traffic

    struct Call: Sendable {
        enum Kind: Sendable { case reserveClosed, reserveOpen, commit }
        var kind: Kind
        var requestID: String
        var organization: String
        var status: Int
        var degraded: Bool
        var errorCode: String?
        var started: ContinuousClock.Instant
        var ended: ContinuousClock.Instant

        var duration: Duration { ended - started }
        /// A reservation Redis decided (not the failure mode).
        var isRealDecision: Bool { (status == 200 && !degraded) || status == 429 }
        var acknowledged: Bool { kind == .commit && (status == 200 || status == 202) }
    }

    /// Reserve-then-commit loops (two workers per key) while `scenario` runs, and `settle`
    /// after it returns; the scenario returns the instant its fault ended.
    func traffic(settle: Duration = .milliseconds(2_500), _ scenario: () async throws -> ContinuousClock.Instant) async throws -> Traffic {
        let log = TrafficLog()
        let gateway = gateway
        let faultEnded: ContinuousClock.Instant = try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    let (key, organization, kind): (String, String, Call.Kind) = worker % 2 == 0
                        ? ("k1", "acme", .reserveClosed) : ("g1", "globex", .reserveOpen)
                    // Bounded in count as well as in time.
                    for index in 0..<3_000 where !log.stopped {
                        let id = "w\(worker)-\(index)"
                        var started = ContinuousClock.now
                        let reserve = try await gateway.post("/v1/reserve",
                            #"{"request_id":"\#(id)","api_key":"\#(key)","model":"test-model","input_tokens":\#(Self.tokens),"max_output_tokens":0}"#)
                        let reserved = Call(kind: kind, requestID: id, organization: organization, status: Int(reserve.status.code),
                                            degraded: reserve.json?["degraded"]?.boolValue == true, errorCode: reserve.json?["error"]?["code"]?.stringValue,
                                            started: started, ended: .now)
                        log.append(reserved)
                        if reserved.status == 200 {
                            started = ContinuousClock.now
                            let commit = try await gateway.post("/v1/commit",
                                #"{"request_id":"\#(id)","api_key":"\#(key)","model":"test-model","usage":{"input_tokens":\#(Self.tokens),"output_tokens":0,"total_tokens":\#(Self.tokens)}}"#)
                            let committed = Call(kind: .commit, requestID: id, organization: organization, status: Int(commit.status.code), degraded: false,
                                                 errorCode: commit.json?["error"]?["code"]?.stringValue, started: started, ended: .now)
                            log.append(committed)
                        }
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
            }
            defer { log.stop() }
            let ended: ContinuousClock.Instant
            do {
                ended = try await scenario()
                try await Task.sleep(until: max(ended, .now) + settle)
                // On a loaded machine the workers may have made few calls since: go on (at most
                // 10 s more) until each key has 5 reservations started after the settle time.
                let settled = ended + settle
                for _ in 0..<100 {
                    let late = log.calls.filter { $0.kind != .commit && $0.started >= settled }
                    if late.filter({ $0.kind == .reserveClosed }).count >= 5 && late.filter({ $0.kind == .reserveOpen }).count >= 5 { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
            } catch {
                group.cancelAll()
                throw error
            }
            log.stop()
            try await group.waitForAll()
            return ended
        }
        return Traffic(calls: log.calls, faultEnded: faultEnded)
    }

    /// The calls of the traffic workers, and their stop flag.
    final class TrafficLog: Sendable {
        private let state = Mutex<(calls: [Call], stopped: Bool)>(([], false))
        func append(_ call: Call) { state.withLock { $0.calls.append(call) } }
        func stop() { state.withLock { $0.stopped = true } }
        var stopped: Bool { state.withLock { $0.stopped } }
        var calls: [Call] { state.withLock { $0.calls } }
    }

    struct Traffic: Sendable {
        var calls: [Call]
        var faultEnded: ContinuousClock.Instant

        /// From the end of the fault to the end of the first real decision on each key,
        /// after which every reservation that started was a real decision; nil if never.
        func recovery(_ kind: Call.Kind) -> Duration? {
            let reserves = calls.filter { $0.kind == kind }.sorted { $0.started < $1.started }
            guard let lastFailure = reserves.lastIndex(where: { !$0.isRealDecision }) else { return .zero }
            let after = reserves[(lastFailure + 1)...]
            guard let first = after.first, after.count >= 3 else { return nil }
            return max(.zero, first.ended - faultEnded)
        }

        var slowest: Duration { calls.map(\.duration).max() ?? .zero }
        var statuses: [Int: Int] { calls.reduce(into: [:]) { $0[$1.status, default: 0] += 1 } }

        func count(_ kind: Call.Kind, _ condition: (Call) -> Bool) -> Int { calls.filter { $0.kind == kind && condition($0) }.count }
    }

    /// A refusal (`inject`: `OOM`, `NOPERM`) that lasts across a stall, so that the breaker
    /// opens and its half-open probe meets the refusal (the bug of issue 11); then `relieve`.
    /// Checks the failure modes, that refused commits were spooled, recovery and the ledger.
    func refusalAcrossAStall(_ fault: String, inject: () async throws -> Void, relieve: () async throws -> Void,
                             sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let traffic = try await traffic {
            try await Task.sleep(for: .milliseconds(300))
            try await inject()
            try await Task.sleep(for: .milliseconds(500))
            server.pause()
            try await Task.sleep(for: .milliseconds(1_000))
            server.resume()
            try await Task.sleep(for: .milliseconds(1_000))
            try await relieve()
            return .now
        }
        #expect(traffic.count(.commit) { $0.status == 202 } > 0, "refused commits were spooled", sourceLocation: sourceLocation)
        try await expectFaultHandled(fault, traffic, sourceLocation: sourceLocation)
    }

    /// The checks of a fault that callers must notice: the failure modes (and the fail-closed
    /// tier did refuse), recovery, the ledger; then the fault matrix line.
    func expectFaultHandled(_ fault: String, _ traffic: Traffic, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        expectFailureModes(traffic, sourceLocation: sourceLocation)
        #expect(traffic.count(.reserveClosed) { $0.status == 503 } > 0, "the fail-closed tier refused during the fault", sourceLocation: sourceLocation)
        let recovery = expectRecovery(traffic, sourceLocation: sourceLocation)
        let lost = try await expectLedgerMatchesCounters(traffic, sourceLocation: sourceLocation)
        report(fault, traffic, recovery: recovery, lost: lost)
    }

    // MARK: Checks

    /// What every caller may get while Redis is faulty: fail-closed reservations are real
    /// decisions or `503 redis_unavailable`; fail-open ones are real or degraded `200`;
    /// commits are applied (200) or spooled (202); no call takes longer than its bound.
    func expectFailureModes(_ traffic: Traffic, sourceLocation: SourceLocation = #_sourceLocation) {
        for call in traffic.calls {
            switch call.kind {
            case .reserveClosed:
                #expect(call.isRealDecision || (call.status == 503 && call.errorCode == "redis_unavailable"),
                        "fail-closed reserve got \(call.status) \(call.errorCode ?? "")", sourceLocation: sourceLocation)
            case .reserveOpen:
                #expect(call.status == 200 || call.status == 429, "fail-open reserve got \(call.status) \(call.errorCode ?? "")", sourceLocation: sourceLocation)
            case .commit:
                #expect(call.acknowledged, "commit got \(call.status) \(call.errorCode ?? "")", sourceLocation: sourceLocation)
            }
        }
        #expect(traffic.slowest <= Self.callBound, "slowest call \(traffic.slowest)", sourceLocation: sourceLocation)
    }

    /// Both keys are back to real decisions within the recovery goal; returns the slower.
    @discardableResult
    func expectRecovery(_ traffic: Traffic, sourceLocation: SourceLocation = #_sourceLocation) -> Duration? {
        let closed = traffic.recovery(.reserveClosed)
        let open = traffic.recovery(.reserveOpen)
        #expect(closed != nil && closed! <= Self.recoveryGoal + schedulingSlack, "fail-closed key recovered after \(String(describing: closed))",
                sourceLocation: sourceLocation)
        #expect(open != nil && open! <= Self.recoveryGoal + schedulingSlack, "fail-open key recovered after \(String(describing: open))",
                sourceLocation: sourceLocation)
        guard let closed, let open else { return nil }
        return max(closed, open)
    }

    /// Once the spool has drained: the ledger holds every acknowledged commit exactly once
    /// and nothing else, and each organisation's spent counter equals its ledger entries.
    /// Returns how many acknowledged commits are missing from the ledger (0 when it passes).
    @discardableResult
    func expectLedgerMatchesCounters(_ traffic: Traffic, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int {
        var depth = -1
        for _ in 0..<100 {
            depth = try await spoolDepth()
            if depth == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(depth == 0, "the spool drained", sourceLocation: sourceLocation)
        let acknowledged = traffic.calls.filter(\.acknowledged)
        let entries = try await MultiNodeTests.ledger(admin, prefix: prefix)
        let ledgerIDs = entries.map(\.requestID)
        #expect(ledgerIDs.count == Set(ledgerIDs).count, "no request is in the ledger twice", sourceLocation: sourceLocation)
        let missing = Set(acknowledged.map(\.requestID)).subtracting(ledgerIDs)
        #expect(missing.isEmpty, "acknowledged commits missing from the ledger: \(missing.sorted().prefix(10))", sourceLocation: sourceLocation)
        #expect(Set(ledgerIDs) == Set(acknowledged.map(\.requestID)), "the ledger holds exactly the acknowledged commits", sourceLocation: sourceLocation)
        for (organization, key) in [("acme", "k1"), ("globex", "g1")] {
            let count = Int64(entries.filter { $0.organization == organization }.count)
            let quota = try await gateway.get("/v1/quota/\(key)")
            guard case .array(let levels) = quota.json?["levels"] else {
                Issue.record("no quota for \(key): \(quota.status)", sourceLocation: sourceLocation)
                continue
            }
            let spent = levels.first { $0["scope"]?.stringValue == "organization" }?["daily_budget"]?["spent"]?.stringValue
            #expect(spent == Money(nanos: count * Self.costNanos).decimalString, "\(organization): spent \(spent ?? "?") for \(count) ledger entries",
                    sourceLocation: sourceLocation)
        }
        return missing.count
    }

    func spoolDepth() async throws -> Int {
        let metrics = try await gateway.get("/metrics")
        #expect(metrics.status == .ok)
        let text = metrics.text
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("tollgate_spool_depth ") }),
              let value = Double(line.split(separator: " ").last ?? "") else { return -1 }
        return Int(value)
    }

    /// Prints one row of the fault matrix (Docs/operations.md is written from these).
    func report(_ fault: String, _ traffic: Traffic, recovery: Duration?, lost: Int) {
        let closed503 = traffic.count(.reserveClosed) { $0.status == 503 }
        let degraded = traffic.count(.reserveOpen) { $0.degraded }
        let spooled = traffic.count(.commit) { $0.status == 202 }
        print("fault-matrix | \(fault) | fail-closed 503: \(closed503), fail-open degraded: \(degraded), commits spooled: \(spooled) | slowest \(traffic.slowest) | recovery \(recovery.map { "\($0)" } ?? "never") | lost \(lost) | statuses \(traffic.statuses)")
    }
}
