import Foundation
import TollgateCore

/// A commit, record or release that could not reach Redis, kept until it can be replayed.
struct SpoolEntry: Codable, Sendable, Equatable {
    enum Operation: String, Codable, Sendable { case commit, record, release }

    var operation: Operation
    var requestID: String
    var apiKey: String
    var usage: TokenUsage?
    var format: UsageFormat?
    var model: String?
    var provider: String?
    var priceVersion: String?
    /// Effective prices (nano-units per 1M tokens), as resolved when the request came in.
    var prices: [Int64]?
    var user: String?
    var feature: String?
    var session: String?
    var experiment: String?
    var latencyMillis: Int64?
    var cacheHit: Bool?
    /// When the gateway took the call (ms since 1970, the gateway's Redis-aligned clock).
    var spooledAt: Int64

    var resolvedPrice: ResolvedPrice? {
        guard let model, let prices, prices.count == 5 else { return nil }
        return ResolvedPrice(model: model, provider: provider ?? "", prices: TokenPrices(input: prices[0], output: prices[3], cachedInput: prices[1], cacheWrite: prices[2], reasoning: prices[4]),
                             versionID: priceVersion ?? "\(model)@?")
    }
}

extension SpoolEntry {
    /// One spool line: the JSON object and a newline.
    func line() throws -> Data {
        var encoded = try JSONEncoder().encode(self)
        encoded.append(UInt8(ascii: "\n"))
        return encoded
    }

    /// The entry on one spool line (without its newline).
    init(line: some Collection<UInt8>) throws {
        self = try JSONDecoder().decode(SpoolEntry.self, from: Data(line))
    }
}
