import Logging
import Synchronization

/// A client for a Redis Cluster: commands go to the primary serving their key's slot, over
/// that node's pipelined ``RedisClient`` (so pipelining still works, per node).
///
/// - `MOVED`: the slot map is updated (and fully refreshed in the background), the command is
///   sent again to the new owner.
/// - `ASK`: `ASKING` and the command are sent back to back to the node named; the map is
///   unchanged (the slot is being migrated).
/// - Errors classified ``RedisError/Availability/temporarilyUnavailable`` (`TRYAGAIN`,
///   `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`, `BUSY`, `READONLY`): retried with doubling
///   backoff while the command's timeout allows; all but `TRYAGAIN`, `LOADING` and `BUSY`
///   also refresh the map.
/// - `CROSSSLOT`: caught before sending, for commands whose keys are known (scripts).
/// - A command that was never sent because its node is unreachable is retried after a
///   refresh of the map (a failover may have promoted a replica); a command whose outcome is
///   unknown is never retried blindly.
/// - `NOSCRIPT`: each node's client loads the script on that node and sends it again.
public final class RedisClusterClient: RedisExecutor {
    public let configuration: RedisConfiguration
    private let seeds: [RedisEndpoint]
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var topology: ClusterTopology?
        var clients: [String: RedisClient] = [:]
        var refresh: Task<ClusterTopology?, Never>?
        var lastRefresh: ContinuousClock.Instant?
    }

    /// - Parameters:
    ///   - seeds: nodes to learn the slot map from (any of them will do).
    ///   - configuration: timeouts, credentials and connections per node (its endpoint is ignored).
    public init(seeds: [RedisEndpoint], configuration: RedisConfiguration, logger: Logger) {
        precondition(!seeds.isEmpty, "a cluster client needs at least one seed node")
        self.seeds = seeds
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: RedisExecutor

    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisReply {
        try Self.checkSameSlot(command)
        let deadline = ContinuousClock.now + (command.timeout ?? configuration.commandTimeout)
        var backoff = Duration.milliseconds(10)
        var asking: RedisEndpoint?
        var moved: RedisEndpoint?
        var redirects = 0
        while true {
            // Every attempt ends by the command's own deadline, however many attempts it takes.
            var command = command
            command.timeout = max(.milliseconds(1), deadline - ContinuousClock.now)
            let result: Result<RedisReply, RedisError>
            if let target = asking {
                let replies = await client(for: target).pipeline([RedisCommand("ASKING"), command])
                result = replies[1]
                asking = nil
            } else {
                // After a MOVED, the node named (a command whose key is not known cannot be routed by the map).
                let target = if let moved { moved } else { await endpoint(for: command) }
                do {
                    result = .success(try await client(for: target).send(command))
                } catch {
                    result = .failure(error)
                }
            }
            guard case .failure(let error) = result else { return try result.get() }

            if let redirect = ClusterRedirect(error), redirects < 8 {
                redirects += 1
                var endpoint = configuration.endpoint
                endpoint.host = redirect.host
                endpoint.port = redirect.port
                if redirect.kind == .moved {
                    state.withLock { $0.topology?.assign(redirect.slot...redirect.slot, to: endpoint) }
                    moved = endpoint
                    scheduleRefresh()
                } else {
                    asking = endpoint
                }
                continue
            }
            let retryable = error.availability == .temporarilyUnavailable
                || (error.delivery == .notSent && [.notConnected, .connectionLost].contains(error.code))
            // A new map is fetched in the background (the retry must not wait beyond the deadline
            // for it), unless the node is merely loading or busy, or the slot is mid-migration.
            // Also when this call has no time left to retry: a call to a dead primary spends its
            // whole deadline reconnecting, and the calls after it must find the promoted replica.
            if retryable, !["TRYAGAIN", "LOADING", "BUSY"].contains(error.prefix ?? "") { scheduleRefresh() }
            guard retryable, ContinuousClock.now + backoff < deadline else { throw error }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .milliseconds(500))
        }
    }

    public func pipeline(_ commands: [RedisCommand]) async -> [Result<RedisReply, RedisError>] {
        guard !commands.isEmpty else { return [] }
        var results = [Result<RedisReply, RedisError>?](repeating: nil, count: commands.count)
        // Keyless commands travel with the first keyed one, or to any primary.
        var groups: [String: (RedisEndpoint, [Int])] = [:]
        let fallback = await endpoint(for: commands.first { $0.routingKey != nil } ?? commands[0])
        for (index, command) in commands.enumerated() {
            do {
                try Self.checkSameSlot(command)
            } catch {
                results[index] = .failure(error)
                continue
            }
            let target = command.routingKey == nil ? fallback : await endpoint(for: command)
            groups["\(target.host):\(target.port)", default: (target, [])].1.append(index)
        }
        let outcomes = await withTaskGroup(of: [(Int, Result<RedisReply, RedisError>)].self) { group in
            for (_, (target, indices)) in groups {
                group.addTask {
                    let replies = await self.client(for: target).pipeline(indices.map { commands[$0] })
                    return Array(zip(indices, replies))
                }
            }
            return await group.reduce(into: [(Int, Result<RedisReply, RedisError>)]()) { $0 += $1 }
        }
        for (index, result) in outcomes { results[index] = result }
        // Redirected or retryable ones go again, one by one, with the full handling of send().
        for index in results.indices {
            guard case .failure(let error) = results[index] else { continue }
            let again = ClusterRedirect(error) != nil || error.availability == .temporarilyUnavailable
                || (error.delivery == .notSent && error.code != .server)
            guard again else { continue }
            do {
                results[index] = .success(try await send(commands[index]))
            } catch {
                results[index] = .failure(error)
            }
        }
        return results.map { $0 ?? .failure(RedisError(.unexpectedReply, "no reply", delivery: .unknown)) }
    }

    public func shutdown() async {
        let clients = state.withLock { state -> [RedisClient] in
            state.refresh?.cancel()
            defer { state.clients = [:] }
            return Array(state.clients.values)
        }
        for client in clients { await client.shutdown() }
    }

    /// One client per primary, for commands that act on a node rather than a key (`SCAN`).
    public func primaries() async -> [RedisClient] {
        var topology = state.withLock { $0.topology }
        if topology == nil { topology = await refreshTopology() }
        return (topology?.primaries ?? seeds).map(client(for:))
    }

    /// The slot map now, loading it if needed.
    public func topology() async -> ClusterTopology? {
        if let known = state.withLock({ $0.topology }) { return known }
        return await refreshTopology()
    }

    // MARK: Routing

    private func endpoint(for command: RedisCommand) async -> RedisEndpoint {
        var topology = state.withLock { $0.topology }
        if topology == nil { topology = await refreshTopology() }
        if let key = command.routingKey, let owner = topology?.owner(of: HashSlot(key: key)) { return owner }
        let primaries = topology?.primaries ?? []
        return primaries.randomElement() ?? seeds[0]
    }

    private func client(for endpoint: RedisEndpoint) -> RedisClient {
        let name = "\(endpoint.host):\(endpoint.port)"
        return state.withLock { state in
            if let client = state.clients[name] { return client }
            var configuration = configuration
            configuration.endpoint.host = endpoint.host
            configuration.endpoint.port = endpoint.port
            let client = RedisClient(configuration: configuration, logger: logger)
            state.clients[name] = client
            return client
        }
    }

    /// Keys of a script call must share a slot; said before anything is sent.
    static func checkSameSlot(_ command: RedisCommand) throws(RedisError) {
        guard let first = command.keyIndex, let count = command.keyCount, count > 1 else { return }
        let keys = command.arguments(first..<(first + count))
        let slot = HashSlot(key: keys[0])
        for key in keys.dropFirst() where HashSlot(key: key) != slot {
            throw RedisError(.server, "CROSSSLOT the keys of \(command.name) do not hash to one slot (caught before sending)", delivery: .notSent)
        }
    }

    // MARK: Topology

    private func scheduleRefresh() {
        Task { _ = await self.refreshTopology() }
    }

    /// Reloads the slot map from any reachable node; concurrent callers share one refresh.
    @discardableResult
    public func refreshTopology() async -> ClusterTopology? {
        let task = state.withLock { state -> Task<ClusterTopology?, Never> in
            if let running = state.refresh { return running }
            let known = state.topology?.primaries ?? []
            let task = Task { await self.loadTopology(from: known + self.seeds) }
            state.refresh = task
            return task
        }
        let topology = await task.value
        state.withLock { state in
            if state.refresh == task { state.refresh = nil }
            if let topology { state.topology = topology }
            state.lastRefresh = .now
        }
        return topology
    }

    private func loadTopology(from candidates: [RedisEndpoint]) async -> ClusterTopology? {
        var seen = Set<String>()
        for endpoint in candidates where seen.insert("\(endpoint.host):\(endpoint.port)").inserted {
            let node = client(for: endpoint)
            if let reply = try? await node.send("CLUSTER", "SHARDS"),
               let topology = ClusterTopology.fromShards(reply, template: configuration.endpoint, askedHost: endpoint.host), topology.coveredSlots > 0 {
                return topology
            }
            if let reply = try? await node.send("CLUSTER", "SLOTS"), let topology = ClusterTopology.fromSlots(reply, template: configuration.endpoint, askedHost: endpoint.host) {
                return topology
            }
        }
        logger.warning("no cluster node answered with a slot map", metadata: ["redis.candidates": "\(seen.count)"])
        return nil
    }
}
