/// Prices per 1M tokens of one model, as integer nano-units of the currency per 1M tokens
/// (so "2.50" is 2_500_000_000 and "0.0375" is 37_500_000): up to 9 decimals, exact.
public struct TokenPrices: Hashable, Sendable {
    public var input: Int64
    public var output: Int64
    /// Cache reads; when nil, cached input tokens cost the input price.
    public var cachedInput: Int64?
    /// Cache writes; when nil, cache-write tokens cost the input price.
    public var cacheWrite: Int64?
    /// Reasoning tokens billed apart; when nil, they cost the output price.
    public var reasoning: Int64?

    /// The highest price per 1M tokens we accept: 10,000 major units. It bounds a request's
    /// cost below 2^53 nano-units, which keeps the Lua arithmetic exact.
    public static let maximumPerMillion: Int64 = 10_000 * Money.nanosPerUnit

    public init(input: Int64, output: Int64, cachedInput: Int64? = nil, cacheWrite: Int64? = nil, reasoning: Int64? = nil) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.reasoning = reasoning
    }

    /// Parses per-1M decimal strings ("2.50", "0.0375", "0.546875").
    public init(input: String, output: String, cachedInput: String? = nil, cacheWrite: String? = nil, reasoning: String? = nil) throws(PricingError) {
        self.init(
            input: try Self.parse(input, "input"),
            output: try Self.parse(output, "output"),
            cachedInput: try cachedInput.map { text throws(PricingError) in try Self.parse(text, "cached input") },
            cacheWrite: try cacheWrite.map { text throws(PricingError) in try Self.parse(text, "cache write") },
            reasoning: try reasoning.map { text throws(PricingError) in try Self.parse(text, "reasoning") })
    }

    static func parse(_ text: String, _ what: String) throws(PricingError) -> Int64 {
        let value: Int64
        do {
            value = try ExactDecimal.parse(text, scale: 9).value
        } catch {
            throw PricingError.invalidPrice("\(what) price \(error.description)")
        }
        guard value <= maximumPerMillion else {
            throw PricingError.invalidPrice("\(what) price '\(text)' is above the maximum of 10000 per 1M tokens")
        }
        return value
    }

    /// The five prices in the order the scripts take them: input, cached input, cache write,
    /// output, reasoning — with the fallbacks above applied.
    public var effective: [Int64] {
        [input, cachedInput ?? input, cacheWrite ?? input, output, reasoning ?? output]
    }

    /// The cost of `usage`: Σ tokens × price / 10⁶, rounded once, half up, to a nano-unit.
    ///
    /// Computed as Σ tokens × ⌊price / 10⁶⌋ + round(Σ tokens × (price mod 10⁶) / 10⁶), the
    /// same split the Lua scripts use, so both stay below 2^53 and agree to the nano-unit.
    public func cost(of usage: TokenUsage) -> Int64 {
        Self.cost(usage.components, at: effective)
    }

    /// What a reservation holds for `input` tokens in and up to `output` out: every input token
    /// uncached, every output token at the dearer of the output and reasoning prices (a model
    /// may spend them all reasoning). `reserve.lua` computes the same with the same function.
    public func estimatedCost(input: Int64, output: Int64) -> Int64 {
        Self.cost([input, 0, 0, output, 0], at: [self.input, 0, 0, max(self.output, reasoning ?? self.output), 0])
    }

    /// Σ counts × prices / 10⁶ over the five token classes, rounded once, half up.
    static func cost(_ counts: [Int64], at prices: [Int64]) -> Int64 {
        var whole: Int64 = 0
        var fraction: Int64 = 0
        for (count, price) in zip(counts, prices) where count > 0 {
            whole += count * (price / 1_000_000)
            fraction += count * (price % 1_000_000)
        }
        return whole + (fraction + 500_000) / 1_000_000
    }

    /// Per-1M prices as decimal text, for display and export.
    public func decimal(_ value: Int64) -> String { ExactDecimal.format(value, scale: 9, minimumFractionDigits: 2) }
}

public enum PricingError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidPrice(String)
    case unknownModel(String)
    case invalidCatalogue(String)

    public var description: String {
        switch self {
        case .invalidPrice(let message): message
        case .unknownModel(let model): "unknown model '\(model)': it has no price, and its tier names no fallback price"
        case .invalidCatalogue(let message): message
        }
    }
}
