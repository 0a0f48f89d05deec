import Synchronization
import TollgateRedis

/// Sends the engine's reserve and settle calls of one partition as batches while Redis is
/// busy with that partition: a call that finds a free place in its lane goes out at once,
/// alone, as it always did; calls that arrive while the lane is full wait for a call to return
/// and then go out together as one call of the script's batch form (``QuotaScripts/settleBatch``),
/// which runs them one after another exactly as separate calls would, reading each subject once
/// and writing it once for the whole batch (Docs/lua-scripts.md, "Batches").
///
/// So an idle gateway adds nothing to a call (no task hop either: the lane's state is behind a
/// lock, not in an actor), and a busy one spends less Redis time per decision
/// (Docs/benchmarks.md). Up to ``maxInFlight`` calls of a lane run at once; a call that finds
/// them all in flight waits for the first to return. One coalescer serves a whole process:
/// engines are made per request and share it.
public final class CallCoalescer: Sendable {
    /// The calls that may share a batch: one script, one partition (so one hash slot), and the
    /// same clock and window settings (so a subject loaded by one request suits the next).
    public struct Lane: Hashable, Sendable {
        let function: String
        let prefix: String
        let partition: Int
        let clockOffsetMillis: Int64
        let bucketMilliseconds: Int
        let buckets: Int
        let stateLayout: Int
    }

    /// What a waiting call is told: its reply, or that a place came free and it goes alone.
    private enum Turn: Sendable {
        case answered(Result<RedisReply, RedisError>)
        case goAlone
    }

    private struct Waiting: Sendable {
        let command: RedisCommand
        let continuation: CheckedContinuation<Turn, Never>
    }

    private struct State {
        var inFlight: [Lane: Int] = [:]
        var waiting: [Lane: [Waiting]] = [:]
        var batches = 0
        var batchedCalls = 0

        /// A call of `lane` gave its place back.
        mutating func release(_ lane: Lane) {
            inFlight[lane, default: 1] -= 1
            if inFlight[lane] == 0 { inFlight[lane] = nil }
        }
    }

    private let redis: any RedisExecutor
    /// Most requests in one batch call.
    public let maxBatch: Int
    /// Calls of one lane in flight at once: with two, Redis works on one while the other's
    /// reply travels, so batching does not leave it idle.
    public let maxInFlight: Int
    /// Calls that may wait in one lane; more go alone, as without the coalescer.
    public let maxWaiting: Int
    private let state = Mutex(State())

    public init(redis: any RedisExecutor, maxBatch: Int = 64, maxInFlight: Int = 2, maxWaiting: Int = 1_024) {
        self.redis = redis
        self.maxBatch = max(1, maxBatch)
        self.maxInFlight = max(1, maxInFlight)
        self.maxWaiting = max(1, maxWaiting)
    }

    /// Batch calls made so far, and the calls they carried.
    public var batches: Int { state.withLock { $0.batches } }
    public var batchedCalls: Int { state.withLock { $0.batchedCalls } }

    /// Runs `command` (a single call of a script whose batch form is `batch`) and returns its reply.
    public func send(_ command: RedisCommand, lane: Lane, batch: RedisScript) async -> Result<RedisReply, RedisError> {
        if !takePlace(lane) {
            let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
                // A place may have come free since: then go alone, else wait in the lane (unless
                // it is full: then go alone all the same, over the lane's places).
                let queued = state.withLock { state -> Bool in
                    if state.inFlight[lane, default: 0] < maxInFlight || state.waiting[lane, default: []].count >= maxWaiting {
                        state.inFlight[lane, default: 0] += 1
                        return false
                    }
                    state.waiting[lane, default: []].append(Waiting(command: command, continuation: continuation))
                    return true
                }
                if !queued { continuation.resume(returning: .goAlone) }
            }
            // Answered within a batch; or a place came free and this call goes alone, below.
            if case .answered(let result) = turn { return result }
        }
        let result = await Self.result(of: command, on: redis)
        finished(lane, batch: batch, failure: result.redisError)
        return result
    }

    /// Takes a place in `lane` if one is free.
    private func takePlace(_ lane: Lane) -> Bool {
        state.withLock { state in
            guard state.inFlight[lane, default: 0] < maxInFlight else { return false }
            state.inFlight[lane, default: 0] += 1
            return true
        }
    }

    /// A call of `lane` has its reply: what waits goes out now, as one call in that place. When
    /// the call found Redis unavailable (`failure`), what waits is not sent: each gets that it
    /// could not be (delivery `.notSent`, so a commit goes to the spool at once), instead of
    /// waiting for its own timeout after the one before it.
    private func finished(_ lane: Lane, batch script: RedisScript, failure: RedisError?) {
        if let failure, failure.isUnavailable {
            let dropped = state.withLock { state -> [Waiting] in
                let dropped = state.waiting[lane] ?? []
                state.waiting[lane] = nil
                state.release(lane)
                return dropped
            }
            let error = RedisError(.notConnected, "not sent: the call before it in its lane found Redis unavailable (\(failure.message))",
                                   delivery: .notSent)
            for member in dropped { member.continuation.resume(returning: .answered(.failure(error))) }
            return
        }
        let taken = state.withLock { state -> [Waiting] in
            guard let queue = state.waiting[lane], !queue.isEmpty else {
                state.release(lane)
                state.waiting[lane] = nil
                return []
            }
            let taken = Array(queue.prefix(maxBatch))
            state.waiting[lane] = Array(queue.dropFirst(taken.count))
            if taken.count > 1 {
                state.batches += 1
                state.batchedCalls += taken.count
            }
            return taken
        }
        guard !taken.isEmpty else { return }
        if taken.count == 1 {
            // One waiting call takes the place over and sends itself.
            taken[0].continuation.resume(returning: .goAlone)
            return
        }
        Task {
            let replies = await Self.result(of: QuotaEngine.batchCommand(script, taken.map(\.command)), on: redis)
            Self.answer(taken, with: replies)
            finished(lane, batch: script, failure: replies.redisError)
        }
    }

    /// Each request of a batch gets its own element of the batch's reply.
    private static func answer(_ taken: [Waiting], with replies: Result<RedisReply, RedisError>) {
        switch replies {
        case .success(.array(let elements)) where elements.count == taken.count:
            for (member, reply) in zip(taken, elements) {
                if case .error(let message) = reply {
                    member.continuation.resume(returning: .answered(.failure(.server(message))))
                } else {
                    member.continuation.resume(returning: .answered(.success(reply)))
                }
            }
        case .success(let reply):
            let error = RedisError(.unexpectedReply, "batch of \(taken.count) answered \(reply)", delivery: .answered)
            for member in taken { member.continuation.resume(returning: .answered(.failure(error))) }
        case .failure(let error):
            for member in taken { member.continuation.resume(returning: .answered(.failure(error))) }
        }
    }

    private static func result(of command: RedisCommand, on redis: any RedisExecutor) async -> Result<RedisReply, RedisError> {
        do {
            return .success(try await redis.send(command))
        } catch {
            return .failure(error)
        }
    }
}

extension Result where Failure == RedisError {
    /// The error of a failed call; nil for a reply.
    var redisError: RedisError? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
