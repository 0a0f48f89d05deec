import ArgumentParser
import Foundation
import TollgateAdmin
import TollgateGateway

/// `tollgate serve`'s proxy-mode options: where providers are and how calls to them are
/// bounded. Credentials come from `TOLLGATE_OPENAI_API_KEY` / `TOLLGATE_ANTHROPIC_API_KEY`
/// or the secrets file, never from a flag (flags show in `ps`).
struct ProxyOptions: ParsableArguments {
    @Option(help: "JSON file of upstream base URLs and API keys per provider (or TOLLGATE_UPSTREAM_SECRETS); see Docs/proxy.md.")
    var upstreamSecrets: String?

    @Option(help: "Largest non-streaming upstream answer in bytes.")
    var upstreamResponseLimit: Int = 32 * 1024 * 1024

    @Option(help: "Upstream connect timeout in milliseconds.")
    var upstreamConnectTimeoutMs: Int = 10_000

    @Option(help: "Longest upstream silence in milliseconds before a call fails.")
    var upstreamReadTimeoutMs: Int = 120_000

    @Option(help: "Longest whole upstream call (streams included) in milliseconds.")
    var upstreamTimeoutMs: Int = 600_000

    @Option(help: "Pooled connections per upstream host.")
    var upstreamPoolSize: Int = 64

    @Option(help: "After a client leaves mid-stream, milliseconds to keep reading the upstream for the provider's usage.")
    var disconnectDrainMs: Int = 10_000

    @Flag(inversion: .prefixedNo, help: "Journal proxied calls in flight (<spool>.calls) so that a killed gateway's open calls are billed when its spool is next taken.")
    var callJournal = true

    func validate() throws {
        guard upstreamResponseLimit >= 1_024 else { throw ValidationError("--upstream-response-limit must be at least 1024 bytes") }
        guard upstreamConnectTimeoutMs > 0, upstreamReadTimeoutMs > 0, upstreamTimeoutMs > 0 else {
            throw ValidationError("upstream timeouts must be positive")
        }
        guard (1...10_000).contains(upstreamPoolSize) else { throw ValidationError("--upstream-pool-size must be between 1 and 10000") }
        guard disconnectDrainMs >= 0 else { throw ValidationError("--disconnect-drain-ms must not be negative") }
    }

    func configuration() throws -> ProxyConfiguration {
        let upstreams: [String: Upstream]
        do {
            upstreams = try ProxyConfiguration.upstreams(environment: ProcessInfo.processInfo.environment, secretsFile: upstreamSecrets ?? Environment.value("TOLLGATE_UPSTREAM_SECRETS"))
        } catch {
            throw ValidationError(error.description)
        }
        return ProxyConfiguration(
            upstreams: upstreams, responseLimit: upstreamResponseLimit,
            connectTimeout: .milliseconds(upstreamConnectTimeoutMs), readTimeout: .milliseconds(upstreamReadTimeoutMs),
            requestTimeout: .milliseconds(upstreamTimeoutMs), poolSize: upstreamPoolSize, disconnectDrain: .milliseconds(disconnectDrainMs),
            callJournal: callJournal)
    }
}
