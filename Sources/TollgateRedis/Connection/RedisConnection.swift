import Foundation
import Glibc
import Logging
import Synchronization

/// One connection to Redis: an inbox that any task can post commands to, and a dedicated
/// OS thread (the ``ConnectionWorker``) that owns the socket and the hiredis context.
///
/// No hiredis call runs on Swift's cooperative pool or on a NIO event loop: callers only
/// append to the inbox under a lock and, when the worker is idle, write a byte to its wake-up pipe.
final class RedisConnection: Sendable {
    struct Inbox {
        var commands: [PendingCommand] = []
        /// The worker is (about to be) blocked in `poll` and wants a byte on its wake-up pipe for new work.
        var sleeping = false
        var closing = false
    }

    private let inbox = Mutex(Inbox())
    /// Read end of a non-blocking pipe the worker polls; callers write a byte to wake it.
    let wakeDescriptor: Int32
    private let wakeWriteDescriptor: Int32
    /// Commands written and `write` batches, for statistics.
    let commandsWritten = Atomic<Int>(0)
    let batchesWritten = Atomic<Int>(0)
    private let stopped = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init(configuration: RedisConfiguration, index: Int, logger: Logger, subscription: RedisSubscription? = nil) {
        var pipeEnds: [Int32] = [-1, -1]
        if pipe(&pipeEnds) != 0 { fatalError("pipe() failed: \(String(cString: strerror(errno)))") }
        for descriptor in pipeEnds {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        wakeDescriptor = pipeEnds[0]
        wakeWriteDescriptor = pipeEnds[1]
        let worker = ConnectionWorker(connection: self, configuration: configuration, logger: logger, subscription: subscription)
        let thread = Thread { worker.run() }
        thread.name = "redis-\(configuration.endpoint.port)-\(index)"
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        close(wakeDescriptor)
        close(wakeWriteDescriptor)
    }

    /// Queues commands for the worker. They stay together and in order.
    /// Returns false when the connection is shutting down.
    func enqueue(_ commands: [PendingCommand]) -> Bool {
        let (accepted, wake) = inbox.withLock { inbox -> (Bool, Bool) in
            guard !inbox.closing else { return (false, false) }
            inbox.commands.append(contentsOf: commands)
            let wake = inbox.sleeping
            inbox.sleeping = false
            return (true, wake)
        }
        if wake { wakeWorker() }
        return accepted
    }

    func enqueue(_ command: PendingCommand) -> Bool {
        let (accepted, wake) = inbox.withLock { inbox -> (Bool, Bool) in
            guard !inbox.closing else { return (false, false) }
            inbox.commands.append(command)
            let wake = inbox.sleeping
            inbox.sleeping = false
            return (true, wake)
        }
        if wake { wakeWorker() }
        return accepted
    }

    /// Stops taking commands, lets those already queued finish (or time out), then waits
    /// for the worker thread to exit.
    func shutdown() async {
        inbox.withLock { $0.closing = true }
        wakeWorker()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = stopped.withLock { state -> Bool in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }

    // MARK: Called by the worker thread

    /// Takes everything queued. The worker calls this at the top of each turn.
    func takeInbox() -> (commands: [PendingCommand], closing: Bool) {
        inbox.withLock { inbox in
            inbox.sleeping = false
            defer { inbox.commands.removeAll(keepingCapacity: true) }
            return (inbox.commands, inbox.closing)
        }
    }

    /// Declares that the worker is about to block; false if work arrived meanwhile.
    func prepareToSleep() -> Bool {
        inbox.withLock { inbox in
            guard inbox.commands.isEmpty, !inbox.closing else { return false }
            inbox.sleeping = true
            return true
        }
    }

    func workerDidStop() {
        let waiters = stopped.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func wakeWorker() {
        var byte: UInt8 = 1
        _ = write(wakeWriteDescriptor, &byte, 1)
    }
}
