/// Which primary serves each hash slot, as `CLUSTER SHARDS` (or `CLUSTER SLOTS`) reports it.
public struct ClusterTopology: Sendable, Equatable {
    /// Primaries, in the order first seen.
    public private(set) var primaries: [RedisEndpoint]
    /// Index into ``primaries`` for each of the 16384 slots; -1 when no primary serves it.
    private var owners: [Int16]

    public init() {
        primaries = []
        owners = Array(repeating: -1, count: HashSlot.count)
    }

    public func owner(of slot: HashSlot) -> RedisEndpoint? {
        let index = Int(owners[Int(slot.rawValue)])
        return index >= 0 ? primaries[index] : nil
    }

    public var coveredSlots: Int { owners.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// Records that `endpoint` serves `slots` (a `MOVED` reply, or one range of a map).
    public mutating func assign(_ slots: ClosedRange<Int>, to endpoint: RedisEndpoint) {
        let index: Int
        if let known = primaries.firstIndex(where: { $0.host == endpoint.host && $0.port == endpoint.port }) {
            index = known
        } else {
            primaries.append(endpoint)
            index = primaries.count - 1
        }
        for slot in slots where (0..<HashSlot.count).contains(slot) { owners[slot] = Int16(index) }
    }

    /// Parses a `CLUSTER SHARDS` reply (Redis 7): each shard's slot ranges and its online primary.
    /// `template` supplies the credentials and database of every node; `askedHost` is the host
    /// of the node that answered, used where a node's address is unknown to the cluster (empty,
    /// `?` or null — e.g. a one-node cluster that never talked to a peer).
    public static func fromShards(_ reply: RedisReply, template: RedisEndpoint, askedHost: String) -> ClusterTopology? {
        guard let shards = reply.array else { return nil }
        var topology = ClusterTopology()
        for shard in shards {
            let fields = pairs(shard)
            guard let slots = fields["slots"]?.array, let nodes = fields["nodes"]?.array else { continue }
            let primary = nodes.map(pairs).first { node in
                node["role"]?.string == "master" && (node["health"]?.string ?? "online") == "online"
            }
            guard let primary, let port = primary["port"]?.int ?? primary["tls-port"]?.int else { continue }
            var endpoint = template
            endpoint.host = known(primary["endpoint"]) ?? known(primary["ip"]) ?? askedHost
            endpoint.port = Int(port)
            for index in stride(from: 0, to: slots.count - 1, by: 2) {
                guard let start = slots[index].int, let end = slots[index + 1].int, start <= end else { continue }
                topology.assign(Int(start)...Int(end), to: endpoint)
            }
        }
        return topology.primaries.isEmpty ? nil : topology
    }

    /// Parses a `CLUSTER SLOTS` reply (older servers): `[start, end, [ip, port, id], replicas...]`.
    public static func fromSlots(_ reply: RedisReply, template: RedisEndpoint, askedHost: String) -> ClusterTopology? {
        guard let ranges = reply.array else { return nil }
        var topology = ClusterTopology()
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].int, let end = parts[1].int,
                  let node = parts[2].array, node.count >= 2, let port = node[1].int else { continue }
            var endpoint = template
            endpoint.host = known(node[0]) ?? askedHost
            endpoint.port = Int(port)
            topology.assign(Int(start)...Int(end), to: endpoint)
        }
        return topology.primaries.isEmpty ? nil : topology
    }

    /// A node address the cluster knows: not null, empty or `?`.
    private static func known(_ reply: RedisReply?) -> String? {
        guard let host = reply?.string, !host.isEmpty, host != "?" else { return nil }
        return host
    }

    private static func pairs(_ reply: RedisReply) -> [String: RedisReply] {
        guard let items = reply.array else { return [:] }
        var map: [String: RedisReply] = [:]
        for index in stride(from: 0, to: items.count - 1, by: 2) {
            if let key = items[index].string { map[key] = items[index + 1] }
        }
        return map
    }
}

/// A `MOVED` or `ASK` redirection: `MOVED 3999 127.0.0.1:6381`.
public struct ClusterRedirect: Sendable, Equatable {
    public enum Kind: Sendable { case moved, ask }
    public var kind: Kind
    public var slot: Int
    public var host: String
    public var port: Int

    public init?(_ error: RedisError) {
        guard let prefix = error.prefix, prefix == "MOVED" || prefix == "ASK" else { return nil }
        let parts = error.message.split(separator: " ")
        guard parts.count >= 3, let slot = Int(parts[1]), let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]) else {
            return nil
        }
        kind = prefix == "MOVED" ? .moved : .ask
        self.slot = slot
        host = String(parts[2][..<colon])
        self.port = port
    }
}
