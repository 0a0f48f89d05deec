import ArgumentParser
import Foundation
import TollgateCore
import TollgateTokenizer

/// `tollgate-bench tokenizer`: the tokenizer's single-thread speed on a corpus (one document
/// per line of a JSON array file), the resident memory of both vocabularies, and the latency
/// that counting a ~4,000-token chat adds to a reserve (parsing the body and counting it).
/// Scripts/bench-tokenizer.sh runs Python tiktoken on the same corpus beside it.
struct TokenizerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenizer", abstract: "Tokenizer speed, memory and counting latency.")

    @Option(help: "A JSON array of documents.") var corpus: String
    @Option(help: "Passes over the corpus per encoding (the best is reported).") var rounds = 3
    @Option(help: "Chat counts timed for the latency figure.") var chats = 2_000

    func run() async throws {
        let before = Self.residentBytes()
        let started = monotonicNanoseconds()
        let tokenizers = try Encoding.all.map { try Tokenizer.shared($0) }
        let loadMilliseconds = Double(monotonicNanoseconds() - started) / 1e6
        let resident = Self.residentBytes() - before
        print(String(format: "swift-vocabularies load_ms=%.0f rss_mib=%.1f", loadMilliseconds, Double(resident) / 1_048_576))

        let documents = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: corpus)))
        let bytes = documents.reduce(0) { $0 + $1.utf8.count }
        for tokenizer in tokenizers {
            var best = UInt64.max
            var tokens = 0
            for _ in 0..<rounds {
                let start = monotonicNanoseconds()
                tokens = documents.reduce(0) { $0 + tokenizer.count($1) }
                best = min(best, monotonicNanoseconds() - start)
            }
            let seconds = Double(best) / 1e9
            print(String(format: "swift-encode encoding=%@ documents=%d bytes=%d tokens=%d seconds=%.3f tokens_per_second=%.0f",
                         tokenizer.encoding.name, documents.count, bytes, tokens, seconds, Double(tokens) / seconds))
        }

        // A chat of ~4,000 tokens: a system prompt and alternating turns cut from the corpus.
        let counter = try PromptCounter(choice: .exact(.o200kBase), model: "gpt-4o")
        var messages: [String] = [#"{"role":"system","content":"You are a helpful assistant."}"#]
        var text = documents.joined(separator: "\n").unicodeScalars.filter { $0.value >= 0x20 && $0 != "\"" && $0 != "\\" }.map(String.init).joined()
        var total: Int64 = 0
        while total < 4_000, !text.isEmpty {
            let turn = String(text.prefix(1_600))
            text.removeFirst(turn.count)
            messages.append(#"{"role":"\#(messages.count % 2 == 1 ? "user" : "assistant")","content":"\#(turn)"}"#)
            let body = #"{"messages":[\#(messages.joined(separator: ","))]}"#
            total = try counter.count(try Prompt(body: JSONValue.parse(body).objectValue ?? [:])!).tokens
        }
        let chatBody = Array(#"{"request_id":"r","api_key":"k","model":"gpt-4o","max_output_tokens":500,"messages":[\#(messages.joined(separator: ","))]}"#.utf8)
        let plainBody = Array(#"{"request_id":"r","api_key":"k","model":"gpt-4o","max_output_tokens":500,"input_tokens":4000}"#.utf8)
        // Wall time, and the thread's own CPU time: on a shared machine the wall-clock p99 is
        // mostly time the thread spent descheduled, which the CPU time leaves out.
        func time(_ body: () throws -> Void) rethrows -> (wall: LatencySummary, cpu: LatencySummary) {
            var latencies: [UInt64] = [], cpuTimes: [UInt64] = []
            let start = monotonicNanoseconds()
            for _ in 0..<chats {
                let begin = monotonicNanoseconds(), cpuBegin = Self.threadCPUNanoseconds()
                try body()
                cpuTimes.append(Self.threadCPUNanoseconds() - cpuBegin)
                latencies.append(monotonicNanoseconds() - begin)
            }
            let elapsed = monotonicNanoseconds() - start
            return (LatencySummary(latencies: latencies, errors: 0, elapsedNanoseconds: elapsed),
                    LatencySummary(latencies: cpuTimes, errors: 0, elapsedNanoseconds: elapsed))
        }
        var counted: Int64 = 0
        let chat = try time {
            let object = try JSONValue.parse(chatBody).objectValue ?? [:]
            counted = try counter.count(try Prompt(body: object)!).tokens
        }
        let plain = try time { _ = try JSONValue.parse(plainBody).objectValue?["input_tokens"] }
        print(String(format: "swift-chat-count tokens=%d body_bytes=%d parse_and_count_p50_ms=%.3f p99_ms=%.3f cpu_p50_ms=%.3f cpu_p99_ms=%.3f input_tokens_body_p50_ms=%.4f p99_ms=%.4f",
                     counted, chatBody.count, chat.wall.percentileMilliseconds(50), chat.wall.percentileMilliseconds(99),
                     chat.cpu.percentileMilliseconds(50), chat.cpu.percentileMilliseconds(99),
                     plain.wall.percentileMilliseconds(50), plain.wall.percentileMilliseconds(99)))
    }

    /// The calling thread's CPU time.
    static func threadCPUNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// VmRSS of this process, from /proc/self/status.
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else { return 0 }
        return kib * 1024
    }
}
