import Glibc

/// A command handed to a connection, with where its reply goes and when it gives up.
struct PendingCommand: Sendable {
    enum Completion: Sendable {
        case single(CheckedContinuation<Result<RedisReply, RedisError>, Never>)
        case pipeline(PipelineCollector, index: Int)
        /// `AUTH`, `SELECT`, `CLIENT SETNAME` sent by the worker itself after connecting.
        case handshake
    }

    let command: RedisCommand
    /// Monotonic nanoseconds after which the caller gets a timeout.
    let deadline: UInt64
    let completion: Completion

    func complete(_ result: Result<RedisReply, RedisError>) {
        switch completion {
        case .single(let continuation): continuation.resume(returning: result)
        case .pipeline(let collector, let index): collector.complete(index, result)
        case .handshake: break
        }
    }
}

/// Gathers the replies of one pipeline and resumes its caller once all have arrived.
///
/// `@unchecked Sendable`: every command of a pipeline is queued on one connection in one
/// step, so only that connection's worker thread ever touches `results` and `remaining`.
final class PipelineCollector: @unchecked Sendable {
    private var results: [Result<RedisReply, RedisError>]
    private var remaining: Int
    private let continuation: CheckedContinuation<[Result<RedisReply, RedisError>], Never>

    init(count: Int, continuation: CheckedContinuation<[Result<RedisReply, RedisError>], Never>) {
        results = Array(repeating: .failure(RedisError(.clientClosed, "no reply", delivery: .unknown)), count: count)
        remaining = count
        self.continuation = continuation
    }

    func complete(_ index: Int, _ result: Result<RedisReply, RedisError>) {
        results[index] = result
        remaining -= 1
        if remaining == 0 { continuation.resume(returning: results) }
    }
}

/// Monotonic time in nanoseconds (`CLOCK_MONOTONIC`), for deadlines.
enum MonotonicClock {
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}
