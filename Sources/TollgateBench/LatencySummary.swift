import Foundation
import Glibc

/// Latencies of one run, and the figures reported from them.
struct LatencySummary: Sendable {
    var count: Int
    var errors: Int
    var seconds: Double
    var sortedNanoseconds: [UInt64]

    init(latencies: [UInt64], errors: Int, elapsedNanoseconds: UInt64) {
        count = latencies.count
        self.errors = errors
        seconds = Double(elapsedNanoseconds) / 1e9
        sortedNanoseconds = latencies.sorted()
    }

    var throughput: Double { seconds > 0 ? Double(count) / seconds : 0 }

    /// The latency below which `p` percent of the calls finished, in milliseconds.
    func percentileMilliseconds(_ p: Double) -> Double {
        guard !sortedNanoseconds.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sortedNanoseconds.count)).rounded(.up)) - 1
        return Double(sortedNanoseconds[min(max(0, rank), sortedNanoseconds.count - 1)]) / 1e6
    }

    /// One line, `key=value` pairs, for scripts to collect.
    func line(_ name: String, concurrency: Int, extra: String = "") -> String {
        String(format: "%@ c=%d ops=%d errors=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f", name, concurrency, count, errors, throughput,
               percentileMilliseconds(50), percentileMilliseconds(99)) + (extra.isEmpty ? "" : " " + extra)
    }
}

/// Monotonic nanoseconds.
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Runs `concurrency` workers that each call `operation` until `total` calls are done
/// or `limit` has passed, recording each call's latency.
func measure(concurrency: Int, total: Int, limit: Duration, _ operation: @escaping @Sendable (Int) async -> Bool) async -> LatencySummary {
    let deadline = monotonicNanoseconds() + UInt64(limit.components.seconds) * 1_000_000_000
    let perWorker = max(1, total / concurrency)
    let started = monotonicNanoseconds()
    let results = await withTaskGroup(of: ([UInt64], Int).self) { group in
        for worker in 0..<concurrency {
            group.addTask {
                var latencies: [UInt64] = []
                latencies.reserveCapacity(min(perWorker, 100_000))
                var errors = 0
                for index in 0..<perWorker {
                    let start = monotonicNanoseconds()
                    if start > deadline { break }
                    if await operation(worker * perWorker + index) {
                        latencies.append(monotonicNanoseconds() - start)
                    } else {
                        errors += 1
                    }
                }
                return (latencies, errors)
            }
        }
        return await group.reduce(into: ([UInt64](), 0)) { $0.0 += $1.0; $0.1 += $1.1 }
    }
    return LatencySummary(latencies: results.0, errors: results.1, elapsedNanoseconds: monotonicNanoseconds() - started)
}
