import TollgateCore

/// The configuration a gateway answers from: immutable, swapped whole when a new version
/// arrives, so a request never sees half of a change.
public struct GatewaySnapshot: Sendable {
    public let configuration: TollgateConfiguration
    public let version: Int64
    /// Live (not revoked) service tokens by the SHA-256 of their secret.
    public let tokensByHash: [String: ServiceToken]
    /// Secret → SHA-256, for this snapshot's lifetime.
    let hashes = TokenHashCache()

    public init(configuration: TollgateConfiguration, version: Int64) {
        self.configuration = configuration
        self.version = version
        var tokens: [String: ServiceToken] = [:]
        for token in configuration.tokens.values where !token.revoked { tokens[token.sha256] = token }
        tokensByHash = tokens
    }
}
