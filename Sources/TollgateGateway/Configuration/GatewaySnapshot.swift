import TollgateCore

/// The configuration a gateway answers from: immutable, swapped whole when a new version
/// arrives, so a request never sees half of a change. Customers are not in it: they come
/// from the gateway's ``CustomerCache``.
public struct GatewaySnapshot: Sendable {
    public let configuration: TollgateConfiguration
    public let version: Int64
    /// Secret → SHA-256, for this snapshot's lifetime.
    let hashes = TokenHashCache()

    public init(configuration: TollgateConfiguration, version: Int64) {
        self.configuration = configuration
        self.version = version
    }
}
