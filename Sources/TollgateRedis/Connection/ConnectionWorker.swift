import DequeModule
import Glibc
import Logging
import Synchronization

/// Channels a subscriber connection listens to, and where their messages go.
struct RedisSubscription: Sendable {
    var channels: [String]
    /// Called on the worker thread for every push (`subscribe` confirmations and messages),
    /// and with `nil` after each (re)connection's subscriptions are confirmed.
    var handler: @Sendable (RedisReply?) -> Void
}

/// The thread that owns one Redis connection.
///
/// Each turn: take what callers queued, write it as one batch, wait with `poll` for replies
/// (or for a deadline, or for new work when idle), hand replies back in order. While a batch
/// is in flight, new commands are not written one by one: they pile up and go out together
/// as soon as the replies are in, which is what makes pipelining automatic.
///
/// `@unchecked Sendable`: after `run()` starts, only the worker's own thread touches its
/// properties; other threads reach it only through ``RedisConnection``'s locked inbox.
final class ConnectionWorker: @unchecked Sendable {
    private enum State {
        case disconnected(retryAt: UInt64)
        case handshaking
        case ready
    }

    private let connection: RedisConnection
    private let configuration: RedisConfiguration
    private let logger: Logger
    private let subscription: RedisSubscription?

    private var state: State = .disconnected(retryAt: 0)
    private var context: HiredisContext?
    private var waiting: Deque<PendingCommand> = []
    private var inflight: Deque<PendingCommand> = []
    private var consecutiveFailures = 0
    private var lastFailure = "not connected yet"
    private var handshakeError: RedisError?

    init(connection: RedisConnection, configuration: RedisConfiguration, logger: Logger, subscription: RedisSubscription?) {
        self.connection = connection
        self.configuration = configuration
        self.logger = logger
        self.subscription = subscription
    }

    func run() {
        while true {
            let (incoming, closing) = connection.takeInbox()
            waiting.append(contentsOf: incoming)
            let now = MonotonicClock.now()
            advance(now: now, closing: closing)
            if closing && waiting.isEmpty && inflight.isEmpty { break }
            wait(now: now, closing: closing)
        }
        context = nil
        connection.workerDidStop()
    }

    // MARK: One turn

    private func advance(now: UInt64, closing: Bool) {
        switch state {
        case .disconnected(let retryAt):
            failExpiredWaiting(now: now)
            if closing {
                failWaiting(where: { _ in true }, RedisError(.clientClosed, "the client was shut down", delivery: .notSent))
                return
            }
            if (!waiting.isEmpty || subscription != nil) && now >= retryAt {
                connect(now: now)
            } else if !waiting.isEmpty {
                // Fail fast: whoever cannot wait for the next attempt hears so now.
                failWaiting(where: { $0.deadline < retryAt }, notConnected(retryIn: retryAt - now))
            }
        case .handshaking:
            break
        case .ready:
            guard let context else { return }
            if !waiting.isEmpty {
                var count = 0
                while count < configuration.maximumBatchSize, let next = waiting.popFirst() {
                    guard context.append(next.command) else {
                        next.complete(.failure(RedisError(.protocolError, "hiredis could not format \(next.command.name)", delivery: .notSent)))
                        continue
                    }
                    inflight.append(next)
                    count += 1
                }
                if count > 0 {
                    connection.commandsWritten.add(count, ordering: .relaxed)
                    connection.batchesWritten.add(1, ordering: .relaxed)
                }
            }
            if context.pendingOutput > 0 && !context.flush() {
                fail("write failed: \(context.errorMessage)")
            }
        }
    }

    private func wait(now: UInt64, closing: Bool) {
        var timeout = pollTimeout(now: now)
        if case .ready = state, !waiting.isEmpty { timeout = 0 }
        // Ask for a wake-up pipe byte only when no reply is on its way: a reply is the cue to
        // send what queued up meanwhile.
        let inFlight: Bool = { if case .ready = state { return !inflight.isEmpty }; return false }()
        if timeout != 0 && !inFlight && !connection.prepareToSleep() { timeout = 0 }

        var descriptors = [pollfd(fd: connection.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
        if let context {
            let events = POLLIN | (context.pendingOutput > 0 ? POLLOUT : 0)
            descriptors.append(pollfd(fd: context.fd, events: Int16(events), revents: 0))
        }
        let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
        if ready > 0 && descriptors[0].revents != 0 {
            var drain = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            _ = read(connection.wakeDescriptor, &drain, 32)
        }
        if ready > 0, descriptors.count > 1, let context {
            let events = Int32(descriptors[1].revents)
            if events & (POLLIN | POLLHUP | POLLERR) != 0 { readReplies(from: context) }
            if events & POLLOUT != 0, self.context != nil, context.pendingOutput > 0, !context.flush() {
                fail("write failed: \(context.errorMessage)")
            }
        }
        checkDeadlines(now: MonotonicClock.now())
    }

    /// Milliseconds until the next deadline or reconnection attempt; -1 for none.
    private func pollTimeout(now: UInt64) -> Int32 {
        var next = UInt64.max
        for pending in inflight where pending.deadline < next { next = pending.deadline }
        if case .disconnected(let retryAt) = state {
            for pending in waiting where pending.deadline < next { next = pending.deadline }
            if !waiting.isEmpty || subscription != nil { next = min(next, retryAt) }
        }
        guard next != .max else { return -1 }
        guard next > now else { return 0 }
        let milliseconds = (next - now + 999_999) / 1_000_000
        return Int32(min(milliseconds, 60_000))
    }

    // MARK: Replies

    private func readReplies(from context: HiredisContext) {
        guard context.readAvailable() else {
            fail("connection lost: \(context.errorMessage)")
            return
        }
        while self.context != nil, let result = context.nextReply() {
            if case .failure(let error) = result, error.code == .protocolError {
                fail("protocol error: \(error.message)")
                return
            }
            if let pending = inflight.popFirst() {
                if case .handshake = pending.completion {
                    handshakeReply(pending, result)
                } else {
                    pending.complete(result)
                }
            } else if let subscription {
                subscription.handler(try? result.get())
            } else {
                fail("protocol error: a reply arrived with no command waiting for it")
                return
            }
        }
    }

    private func handshakeReply(_ pending: PendingCommand, _ result: Result<RedisReply, RedisError>) {
        if case .failure(let error) = result, handshakeError == nil {
            let command = pending.command.name
            if command == "AUTH" {
                handshakeError = RedisError(.authenticationFailed, "authentication as '\(configuration.endpoint.username ?? "default")' failed: \(error.message)", delivery: .notSent)
            } else if command != "CLIENT" {
                handshakeError = RedisError(.notConnected, "\(command) failed during connection setup: \(error.message)", delivery: .notSent)
            }
        }
        guard inflight.allSatisfy({ if case .handshake = $0.completion { return false }; return true }) else { return }
        if let error = handshakeError {
            handshakeError = nil
            failWaiting(where: { _ in true }, error)
            fail(error.message)
            return
        }
        becomeReady()
    }

    // MARK: Connecting

    private func connect(now: UInt64) {
        let endpoint = configuration.endpoint
        let connectTimeout = Int32(clamping: configuration.connectTimeout.nanoseconds / 1_000_000)
        let context: HiredisContext
        do {
            context = try HiredisContext(host: endpoint.host, port: endpoint.port)
        } catch {
            fail(error.message)
            return
        }
        if let problem = context.waitUntilConnected(timeoutMilliseconds: max(1, connectTimeout)) {
            fail("connect to \(endpoint.host):\(endpoint.port) failed: \(problem)")
            return
        }
        context.enableKeepAlive(idleSeconds: configuration.keepAliveSeconds)
        self.context = context

        var handshake: [RedisCommand] = []
        if let password = endpoint.password {
            handshake.append(endpoint.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password))
        }
        if endpoint.database != 0 { handshake.append(RedisCommand("SELECT", endpoint.database)) }
        if let name = configuration.clientName { handshake.append(RedisCommand("CLIENT", "SETNAME", name)) }
        guard !handshake.isEmpty else {
            becomeReady()
            return
        }
        let deadline = MonotonicClock.now() + configuration.connectTimeout.nanoseconds
        for command in handshake {
            _ = context.append(command)
            inflight.append(PendingCommand(command: command, deadline: deadline, completion: .handshake))
        }
        state = .handshaking
        if !context.flush() { fail("write failed: \(context.errorMessage)") }
    }

    private func becomeReady() {
        if consecutiveFailures > 0 {
            logger.info("reconnected to Redis", metadata: ["redis.endpoint": "\(configuration.endpoint)", "redis.failures": "\(consecutiveFailures)"])
        }
        consecutiveFailures = 0
        state = .ready
        if let subscription, let context {
            _ = context.append(RedisCommand("SUBSCRIBE", subscription.channels))
            if !context.flush() { fail("write failed: \(context.errorMessage)"); return }
            subscription.handler(nil)
        }
    }

    // MARK: Failures

    /// Drops the connection: commands in flight fail with an unknown outcome, commands not
    /// yet written stay queued for the next connection (or fail fast), and the next attempt
    /// is scheduled with exponential backoff.
    private func fail(_ message: String, timedOut: Bool = false) {
        context = nil
        lastFailure = message
        consecutiveFailures += 1
        let lost = inflight
        inflight.removeAll()
        for pending in lost {
            let error = timedOut && pending.deadline <= MonotonicClock.now()
                ? RedisError(.timeout, "no reply within the timeout (\(message))", delivery: .unknown)
                : RedisError(.connectionLost, message, delivery: .unknown)
            pending.complete(.failure(error))
        }
        let delay = reconnectDelay()
        state = .disconnected(retryAt: MonotonicClock.now() + delay)
        if consecutiveFailures == 1 || consecutiveFailures.isMultiple(of: 50) {
            logger.warning("Redis connection failed", metadata: [
                "redis.endpoint": "\(configuration.endpoint)",
                "redis.error": "\(message)",
                "redis.failures": "\(consecutiveFailures)",
                "redis.retry_in_ms": "\(delay / 1_000_000)",
            ])
        }
    }

    private func reconnectDelay() -> UInt64 {
        let initial = configuration.initialReconnectDelay.nanoseconds
        let maximum = configuration.maximumReconnectDelay.nanoseconds
        let exponent = min(consecutiveFailures - 1, 20)
        let base = min(maximum, initial << UInt64(max(0, exponent)))
        // Up to 20% jitter, so that many clients do not reconnect in lockstep.
        return base - UInt64.random(in: 0...(base / 5))
    }

    private func checkDeadlines(now: UInt64) {
        if inflight.contains(where: { $0.deadline <= now }) {
            let handshaking: Bool = { if case .handshaking = state { return true }; return false }()
            fail(handshaking ? "connection setup timed out" : "no reply from Redis within the timeout", timedOut: !handshaking)
        }
        if case .ready = state {} else { failExpiredWaiting(now: now) }
    }

    private func failExpiredWaiting(now: UInt64) {
        failWaiting(where: { $0.deadline <= now }, RedisError(.notConnected, "not connected to Redis within the timeout: \(lastFailure)", delivery: .notSent))
    }

    private func failWaiting(where shouldFail: (PendingCommand) -> Bool, _ error: RedisError) {
        guard waiting.contains(where: shouldFail) else { return }
        var kept: Deque<PendingCommand> = []
        for pending in waiting {
            if shouldFail(pending) { pending.complete(.failure(error)) } else { kept.append(pending) }
        }
        waiting = kept
    }

    private func notConnected(retryIn delay: UInt64) -> RedisError {
        RedisError(.notConnected, "not connected to Redis (\(lastFailure)); next attempt in \(delay / 1_000_000) ms", delivery: .notSent)
    }
}
