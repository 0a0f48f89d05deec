import TollgateRedis

/// Sends the engine's reserve and settle calls of one partition as batches while Redis is
/// busy with that partition: a call that finds a free place in its lane goes out at once,
/// alone, as it always did; calls that arrive while the lane is full wait for a call to return
/// and then go out together as one call of the script's batch form (``QuotaScripts/settleBatch``), which
/// runs them one after another exactly as separate calls would, reading each subject once and
/// writing it once for the whole batch (Docs/lua-scripts.md, "Batches").
///
/// So an idle gateway adds nothing to a call, and a busy one spends less Redis time per
/// decision (Docs/benchmarks.md). Up to ``maxInFlight`` calls of a lane run at once; a call
/// that finds them all in flight waits for the first to return. One coalescer serves a whole
/// process: engines are made per request and share it.
public actor CallCoalescer {
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

    private struct Waiting {
        let command: RedisCommand
        let continuation: CheckedContinuation<Result<RedisReply, RedisError>, Never>
    }

    private let redis: any RedisExecutor
    /// Most requests in one batch call.
    public let maxBatch: Int
    /// Calls of one lane in flight at once: with two, Redis works on one while the other's
    /// reply travels, so batching does not leave it idle.
    public let maxInFlight: Int
    private var inFlight: [Lane: Int] = [:]
    private var waiting: [Lane: [Waiting]] = [:]
    /// Calls sent so far in batches of two or more, and those batches.
    public private(set) var batchedCalls = 0
    public private(set) var batches = 0

    public init(redis: any RedisExecutor, maxBatch: Int = 64, maxInFlight: Int = 2) {
        self.redis = redis
        self.maxBatch = max(1, maxBatch)
        self.maxInFlight = max(1, maxInFlight)
    }

    /// Runs `command` (a single call of a script whose batch form is `batch`) and returns its reply.
    public func send(_ command: RedisCommand, lane: Lane, batch: RedisScript) async -> Result<RedisReply, RedisError> {
        if inFlight[lane, default: 0] < maxInFlight {
            inFlight[lane, default: 0] += 1
            let result = await Self.result(of: command, on: redis)
            finished(lane, batch: batch)
            return result
        }
        return await withCheckedContinuation { continuation in
            waiting[lane, default: []].append(Waiting(command: command, continuation: continuation))
        }
    }

    /// A call of `lane` has its reply: what waits goes out now, as one call.
    private func finished(_ lane: Lane, batch script: RedisScript) {
        inFlight[lane, default: 1] -= 1
        guard let queue = waiting[lane], !queue.isEmpty else {
            if inFlight[lane] == 0 { inFlight[lane] = nil }
            waiting[lane] = nil
            return
        }
        let taken = Array(queue.prefix(maxBatch))
        waiting[lane] = Array(queue.dropFirst(taken.count))
        inFlight[lane, default: 0] += 1
        if taken.count > 1 {
            batches += 1
            batchedCalls += taken.count
        }
        let redis = redis
        Task {
            if taken.count == 1 {
                taken[0].continuation.resume(returning: await Self.result(of: taken[0].command, on: redis))
            } else {
                Self.answer(taken, with: await Self.result(of: QuotaEngine.batchCommand(script, taken.map(\.command)), on: redis))
            }
            await self.finished(lane, batch: script)
        }
    }

    /// Each request of a batch gets its own element of the batch's reply.
    private static func answer(_ taken: [Waiting], with replies: Result<RedisReply, RedisError>) {
        switch replies {
        case .success(.array(let elements)) where elements.count == taken.count:
            for (member, reply) in zip(taken, elements) {
                if case .error(let message) = reply {
                    member.continuation.resume(returning: .failure(.server(message)))
                } else {
                    member.continuation.resume(returning: .success(reply))
                }
            }
        case .success(let reply):
            let error = RedisError(.unexpectedReply, "batch of \(taken.count) answered \(reply)", delivery: .answered)
            for member in taken { member.continuation.resume(returning: .failure(error)) }
        case .failure(let error):
            for member in taken { member.continuation.resume(returning: .failure(error)) }
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
