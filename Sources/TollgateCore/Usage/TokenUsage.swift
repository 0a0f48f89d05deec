/// Token counts of one model call in Tollgate's own shape. The five counts are disjoint:
/// each token is counted once, in the class it is billed as.
public struct TokenUsage: Hashable, Sendable, Codable {
    /// Input tokens billed at the input price (not read from or written to a cache).
    public var input: Int64
    /// Input tokens read from the provider's prompt cache.
    public var cachedInput: Int64
    /// Input tokens written to the provider's prompt cache.
    public var cacheWrite: Int64
    /// Output tokens, not counting reasoning tokens.
    public var output: Int64
    /// Reasoning ("thinking") tokens.
    public var reasoning: Int64

    /// The most tokens one request may report in any class. Bounds costs below 2^53 nanos.
    public static let maximumPerClass: Int64 = 100_000_000

    public init(input: Int64 = 0, cachedInput: Int64 = 0, cacheWrite: Int64 = 0, output: Int64 = 0, reasoning: Int64 = 0) {
        self.input = input
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.output = output
        self.reasoning = reasoning
    }

    /// In script order: input, cached input, cache write, output, reasoning.
    public var components: [Int64] { [input, cachedInput, cacheWrite, output, reasoning] }

    /// Every token of the call: what the TPM windows count.
    public var total: Int64 { input + cachedInput + cacheWrite + output + reasoning }

    public var totalInput: Int64 { input + cachedInput + cacheWrite }
    public var totalOutput: Int64 { output + reasoning }

    enum CodingKeys: String, CodingKey {
        case input = "input_tokens"
        case cachedInput = "cached_input_tokens"
        case cacheWrite = "cache_write_tokens"
        case output = "output_tokens"
        case reasoning = "reasoning_tokens"
    }
}
