import Testing
@testable import TollgateCore

@Suite struct PricingTests {
    static let gpt41 = try! TokenPrices(input: "2.00", output: "8.00", cachedInput: "0.50")
    static let sonnet = try! TokenPrices(input: "3.00", output: "15.00", cachedInput: "0.30", cacheWrite: "3.75")

    /// Costs worked out by hand: tokens × price per 1M / 10^6, in nano-dollars.
    @Test(arguments: [
        // 1,000 input at $2/1M = $0.002 = 2,000,000 nanos; 500 output at $8/1M = $0.004.
        (gpt41, TokenUsage(input: 1_000, output: 500), Int64(6_000_000)),
        // 600 cached at $0.50/1M = $0.0003.
        (gpt41, TokenUsage(input: 400, cachedInput: 600, output: 100), 800_000 + 300_000 + 800_000),
        // Reasoning with no own price costs the output price: 200 × 8 = 1600 micro-dollars... = 1,600,000 nanos.
        (gpt41, TokenUsage(output: 50, reasoning: 200), 400_000 + 1_600_000),
        // Anthropic: 1,000 uncached $3 + 2,000 cache read $0.30 + 500 cache write $3.75 + 300 output $15.
        (sonnet, TokenUsage(input: 1_000, cachedInput: 2_000, cacheWrite: 500, output: 300), 3_000_000 + 600_000 + 1_875_000 + 4_500_000),
        // One token at $0.10/1M = 100 nanos exactly.
        (try! TokenPrices(input: "0.10", output: "0.40"), TokenUsage(input: 1), 100),
        // 3 tokens at $0.0375/1M = 112.5 nanos: rounded half up once per request.
        (try! TokenPrices(input: "0.0375", output: "0"), TokenUsage(input: 3), 113),
        // 7 tokens at 0.546875/1M = 3828.125 nanos → 3828.
        (try! TokenPrices(input: "0.546875", output: "0"), TokenUsage(input: 7), 3_828),
    ] as [(TokenPrices, TokenUsage, Int64)])
    func costMatchesHandWorkedFigures(_ prices: TokenPrices, _ usage: TokenUsage, _ nanos: Int64) {
        #expect(prices.cost(of: usage) == nanos)
    }

    @Test func costOfTheLargestRequestStaysBelowTwoToThe53() throws {
        let dearest = TokenPrices(input: TokenPrices.maximumPerMillion, output: TokenPrices.maximumPerMillion)
        let huge = TokenUsage(input: TokenUsage.maximumPerClass, cachedInput: TokenUsage.maximumPerClass, cacheWrite: TokenUsage.maximumPerClass,
                              output: TokenUsage.maximumPerClass, reasoning: TokenUsage.maximumPerClass)
        #expect(dearest.cost(of: huge) < (1 << 53))
    }

    @Test func rejectsBadPrices() {
        #expect(throws: PricingError.self) { try TokenPrices(input: "-1", output: "1") }
        #expect(throws: PricingError.self) { try TokenPrices(input: "abc", output: "1") }
        #expect(throws: PricingError.self) { try TokenPrices(input: "10000.01", output: "1") }
        #expect(throws: PricingError.self) { try TokenPrices(input: "0.0000000001", output: "1") }
    }

    @Test func resolvesAliasesAndVersionsByTime() throws {
        let catalogue = PriceCatalogue([
            ModelPricing(model: "gpt-4.1", provider: "openai", aliases: ["gpt-4.1-2025-04-14"], versions: [
                PriceVersion(version: 1, effectiveFrom: 1_000, prices: Self.gpt41),
                PriceVersion(version: 2, effectiveFrom: 5_000, prices: try TokenPrices(input: "1.00", output: "4.00")),
                PriceVersion(version: 3, effectiveFrom: 9_000, prices: Self.gpt41, retired: true),
            ]),
        ])
        #expect(catalogue.resolve("gpt-4.1", at: 500) == nil)
        #expect(catalogue.resolve("gpt-4.1", at: 1_000)?.versionID == "gpt-4.1@1")
        #expect(catalogue.resolve("GPT-4.1-2025-04-14", at: 4_999)?.prices == Self.gpt41)
        #expect(catalogue.resolve("gpt-4.1-2025-04-14", at: 5_000)?.versionID == "gpt-4.1@2")
        #expect(catalogue.resolve("gpt-4.1", at: 9_000) == nil)
        #expect(catalogue.resolve("gpt-5", at: 5_000) == nil)
    }

    @Test func defaultCatalogueHasTheBriefsModelsAndPrices() throws {
        let shipped = try DefaultCatalogue.load()
        #expect(shipped.currency == .usd)
        #expect(shipped.note.contains("Verify against the provider"))
        let catalogue = shipped.catalogue
        #expect(catalogue.problems.isEmpty)
        let now: Int64 = 1_800_000_000_000
        for (model, input, output) in [
            ("gpt-4.1", "2.00", "8.00"), ("gpt-4.1-mini", "0.40", "1.60"), ("gpt-4.1-nano", "0.10", "0.40"), ("gpt-4o", "2.50", "10.00"),
            ("gpt-4o-mini", "0.15", "0.60"), ("gpt-4-turbo", "10.00", "30.00"), ("gpt-3.5-turbo", "0.50", "1.50"),
            ("claude-sonnet-4", "3.00", "15.00"), ("claude-3-5-haiku", "0.80", "4.00"),
        ] {
            let price = try #require(catalogue.resolve(model, at: now), "\(model) is missing")
            #expect(price.prices.input == (try ExactDecimal.parse(input, scale: 9).value), "\(model) input")
            #expect(price.prices.output == (try ExactDecimal.parse(output, scale: 9).value), "\(model) output")
        }
        #expect(catalogue.resolve("claude-sonnet-4-20250514", at: now)?.model == "claude-sonnet-4")
        #expect(catalogue.resolve("gpt-4.1-2025-04-14", at: now)?.model == "gpt-4.1")
    }
}
