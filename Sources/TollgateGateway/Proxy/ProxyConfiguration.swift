import Foundation
import TollgateCore

/// One provider's upstream: where proxied calls go and the credential they carry. The
/// credential comes from process configuration or a secrets file, never from Redis, and is
/// never logged (``description`` leaves it out).
public struct Upstream: Sendable, Equatable, CustomStringConvertible {
    /// `openai` or `anthropic`.
    public var provider: String
    /// Scheme, host, port and path up to the version, as an SDK's base URL:
    /// `https://api.openai.com/v1`.
    public var baseURL: String
    public var apiKey: String?

    public init(provider: String, baseURL: String, apiKey: String?) {
        self.provider = provider
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
    }

    public var description: String { "\(provider) at \(baseURL) (credential \(apiKey == nil ? "none" : "set"))" }

    public static let defaultBaseURLs = ["openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com/v1"]
}

/// How proxy mode reaches providers (its request bodies are limited by
/// ``GatewayConfiguration/promptBodyLimit``, like the other prompt routes). Built by `tollgate serve` from flags, `TOLLGATE_*`
/// variables and an optional secrets file.
public struct ProxyConfiguration: Sendable {
    /// By provider name (`openai`, `anthropic`); a provider without one answers 503.
    public var upstreams: [String: Upstream]
    /// Largest non-streaming upstream response body the gateway reads.
    public var responseLimit: Int
    public var connectTimeout: Duration
    /// Longest silence on an upstream connection before the call fails.
    public var readTimeout: Duration
    /// Longest a whole upstream call may take, streams included.
    public var requestTimeout: Duration
    /// Pooled connections per upstream host (a soft limit: more are opened under load, and
    /// closed once idle).
    public var poolSize: Int
    public var poolIdleTimeout: Duration
    /// After a client disconnects mid-stream, how long the gateway keeps reading the
    /// upstream for the provider's usage before it bills what it relayed instead.
    public var disconnectDrain: Duration
    /// Whether calls in flight are journaled (`<spool>.calls`) so that the next owner of the
    /// spool bills those a killed gateway left open (``CallJournal``).
    public var callJournal: Bool

    public init(upstreams: [String: Upstream] = [:], responseLimit: Int = 32 * 1024 * 1024,
                connectTimeout: Duration = .seconds(10), readTimeout: Duration = .seconds(120), requestTimeout: Duration = .seconds(600),
                poolSize: Int = 64, poolIdleTimeout: Duration = .seconds(60), disconnectDrain: Duration = .seconds(10),
                callJournal: Bool = true) {
        self.upstreams = upstreams
        self.responseLimit = responseLimit
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.requestTimeout = requestTimeout
        self.poolSize = poolSize
        self.poolIdleTimeout = poolIdleTimeout
        self.disconnectDrain = disconnectDrain
        self.callJournal = callJournal
    }

    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The upstreams named by `TOLLGATE_<PROVIDER>_BASE_URL` / `TOLLGATE_<PROVIDER>_API_KEY`
    /// and by a secrets file (JSON: `{"openai": {"base_url": ..., "api_key": ...}}`); the
    /// file wins. A provider with a credential but no base URL gets its public one.
    public static func upstreams(environment: [String: String], secretsFile: String?) throws(LoadError) -> [String: Upstream] {
        var found: [String: (baseURL: String?, apiKey: String?)] = [:]
        for provider in Upstream.defaultBaseURLs.keys {
            let name = provider.uppercased()
            let base = environment["TOLLGATE_\(name)_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
            let key = environment["TOLLGATE_\(name)_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
            if base != nil || key != nil { found[provider] = (base, key) }
        }
        if let secretsFile {
            guard let data = FileManager.default.contents(atPath: secretsFile) else {
                throw LoadError(description: "cannot read the upstream secrets file \(secretsFile)")
            }
            let document: JSONValue
            do {
                document = try JSONValue.parse(Array(data))
            } catch {
                throw LoadError(description: "the upstream secrets file \(secretsFile) is not valid JSON: \(error.description)")
            }
            guard let providers = document.objectValue else { throw LoadError(description: "the upstream secrets file must hold a JSON object of providers") }
            for (provider, entry) in providers {
                guard Upstream.defaultBaseURLs[provider] != nil else {
                    throw LoadError(description: "the upstream secrets file names an unknown provider '\(provider)' (openai or anthropic)")
                }
                guard entry.objectValue != nil else { throw LoadError(description: "the secrets file's '\(provider)' must be an object") }
                found[provider] = (entry["base_url"]?.stringValue ?? found[provider]?.baseURL, entry["api_key"]?.stringValue ?? found[provider]?.apiKey)
            }
        }
        var upstreams: [String: Upstream] = [:]
        for (provider, entry) in found {
            let base = entry.baseURL ?? Upstream.defaultBaseURLs[provider]!
            guard let url = URL(string: base), let scheme = url.scheme, scheme == "http" || scheme == "https", url.host != nil else {
                throw LoadError(description: "the \(provider) base URL must be an http or https URL")
            }
            upstreams[provider] = Upstream(provider: provider, baseURL: base, apiKey: entry.apiKey)
        }
        return upstreams
    }
}
