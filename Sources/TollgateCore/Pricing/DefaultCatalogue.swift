import Foundation

/// The price catalogue that ships with Tollgate (`Resources/default-prices.json`): dated,
/// in USD, to be verified against each provider before use.
public struct DefaultCatalogue: Sendable, Decodable {
    public var asOf: String
    public var currency: Currency
    public var note: String
    public var models: [ModelPricing]

    enum CodingKeys: String, CodingKey {
        case asOf = "as_of"
        case currency, note, models
    }

    public static func load() throws -> DefaultCatalogue {
        guard let url = Bundle.module.url(forResource: "default-prices", withExtension: "json", subdirectory: "Resources")
                ?? Bundle.module.url(forResource: "default-prices", withExtension: "json") else {
            throw PricingError.invalidCatalogue("default-prices.json is missing from the TollgateCore resource bundle")
        }
        return try JSONDecoder().decode(DefaultCatalogue.self, from: Data(contentsOf: url))
    }

    public var catalogue: PriceCatalogue { PriceCatalogue(models) }
}
