/// The one classification of Redis errors for the whole product: the circuit breaker, the
/// cluster client's retries and the CLI's exit codes all read it from here.
extension RedisError {
    public enum Availability: Sendable, Hashable {
        /// Redis could not be used at all: no connection, no reply within the timeout, a
        /// broken connection, `AUTH` refused, a client shut down, an endpoint that is not valid.
        case unreachable
        /// Redis answered that it cannot serve commands right now (`LOADING`, `BUSY`,
        /// `MASTERDOWN`, `CLUSTERDOWN`, `TRYAGAIN`, `READONLY`): retry shortly, perhaps elsewhere.
        case temporarilyUnavailable
        /// Redis is reachable but refuses work because of its own state (`OOM` when
        /// `maxmemory` is reached, `NOPERM` after an ACL change, `MISCONF`): the same command
        /// succeeds once an operator relieves it.
        case refused
        /// Redis answered with an error about this command (`ERR`, `WRONGTYPE`, `NOSCRIPT`,
        /// `CROSSSLOT`, `MOVED`, a reply of an unexpected shape, ...): retrying it changes nothing.
        case rejected
    }

    private static let temporarilyUnavailablePrefixes: Set<String> = ["LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY"]
    private static let refusedPrefixes: Set<String> = ["OOM", "NOPERM", "MISCONF", "NOAUTH", "WRONGPASS"]

    public var availability: Availability {
        switch code {
        case .server:
            let prefix = prefix ?? ""
            if Self.temporarilyUnavailablePrefixes.contains(prefix) { return .temporarilyUnavailable }
            if Self.refusedPrefixes.contains(prefix) { return .refused }
            return .rejected
        case .notConnected, .timeout, .connectionLost, .clientClosed, .authenticationFailed, .protocolError, .invalidEndpoint:
            return .unreachable
        default:
            return .rejected
        }
    }

    /// Redis cannot serve commands now (unreachable or temporarily unavailable): what opens
    /// a circuit breaker. Every other error shows Redis reachable.
    public var isUnavailable: Bool {
        availability == .unreachable || availability == .temporarilyUnavailable
    }
}
