import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TollgateCore

/// A proxied call admitted by the engine: what settling it needs.
struct AdmittedCall: Sendable {
    let call: ProxyCall
    let snapshot: GatewaySnapshot
    let plan: RequestPlan
    let price: ResolvedPrice
    let tokens: PromptTokens
    /// False when Redis was unreachable and the tier fails open: there is no hold to release.
    let holds: Bool
    let started: ContinuousClock.Instant
}

extension Gateway {
    /// `POST /v1/chat/completions`, `/v1/responses`, `/v1/messages`: count the prompt,
    /// reserve it plus the output bound, call the provider, relay its answer unchanged, and
    /// commit the provider's usage (or release when the call failed).
    func proxy(_ api: ProviderAPI, _ request: Request) async throws -> Response {
        guard let snapshot = watcher.snapshot else { throw APIError.notReady }
        guard let secret = api.serviceToken(request.headers),
              let token = try await authenticate(secret: secret, snapshot: snapshot) else {
            throw APIError.unauthorized
        }
        var request = request
        let bytes: ByteBuffer
        do {
            bytes = try await request.collectBody(upTo: configuration.promptBodyLimit)
        } catch {
            throw APIError.tooLarge
        }
        let call = try ProxyCall(api, headers: request.headers, body: Array(bytes.readableBytesView))
        let now = self.now
        let plan = try await plan(snapshot, token: token, apiKey: call.apiKey, user: call.user, at: now)
        let price = try price(call.model, snapshot, plan, at: now)
        guard let upstream = configuration.proxy.upstreams[api.provider] else {
            throw APIError(.serviceUnavailable, "no_upstream", "this gateway has no upstream configured for \(api.provider)")
        }

        let tokens = try await proxyPromptTokens(call, model: call.model, snapshot: snapshot)
        let reserveRequest = ReserveRequest(requestID: call.requestID, model: call.model, inputTokens: tokens.prompt,
                                            maxOutputTokens: call.maxOutputTokens, user: call.user, feature: call.feature, session: call.session,
                                            experiment: call.experiment)
        let settings = snapshot.configuration.settings
        var holds = true
        switch try await admit(reserveRequest, snapshot: snapshot, plan: plan, price: price) {
        case .allowed: break
        case .degraded: holds = false
        case .duplicate:
            throw APIError(.conflict, "request_id_in_flight", "a call with request id '\(call.requestID)' is already in flight", field: "x-tollgate-request-id")
        case .limited(let refusal, let status, let retry):
            metrics.proxyCall(api: api.rawValue, outcome: "limited")
            var headers = refusalHeaders(status, retryAfterSeconds: retry, settings: settings)
            if api == .anthropicMessages { headers.append(contentsOf: anthropicHeaders(status, now: now)) }
            // A request that can never fit is not worth an SDK's retries.
            headers[ProxyHeaders.shouldRetry] = refusal.reason == .tooLarge ? "false" : "true"
            let message = refusal.reason == .tooLarge
                ? "Tollgate: this request alone exceeds the \(refusal.limit) limit at the \(refusal.scope.rawValue) level; it will never fit"
                : "Tollgate: rate limit reached (\(refusal.reason.rawValue), the \(refusal.limit) limit at the \(refusal.scope.rawValue) level); retry in \(retry ?? 1) s"
            throw APIError(.tooManyRequests, "rate_limit_exceeded", message, headers: headers)
        }
        let admitted = AdmittedCall(call: call, snapshot: snapshot, plan: plan, price: price, tokens: tokens, holds: holds,
                                    started: ContinuousClock.now)
        // Until it is settled, the call is in the journal: a gateway killed now still bills the prompt.
        journal?.begin(commitEntry(admitted, usage: TokenUsage(input: tokens.prompt), format: .recovered, latencyMillis: nil))
        guard let client = upstreamClient.client else {
            await releaseProxied(admitted, outcome: "upstream_error")
            throw APIError(.serviceUnavailable, "shutting_down", "the gateway is shutting down; retry")
        }
        return try await forward(admitted, to: upstream, client: client, clientHeaders: request.headers)
    }

    /// Calls the upstream and relays its answer; a call that never got an answer is released.
    private func forward(_ admitted: AdmittedCall, to upstream: Upstream, client: HTTPClient, clientHeaders: HTTPFields) async throws -> Response {
        let call = admitted.call
        var outgoing = HTTPClientRequest(url: upstream.baseURL + call.api.upstreamPath)
        outgoing.method = .POST
        for name in ProxyHeaders.forwarded {
            for value in clientHeaders[values: name] { outgoing.headers.add(name: name.rawName, value: value) }
        }
        if clientHeaders[.contentType] == nil { outgoing.headers.add(name: "Content-Type", value: "application/json") }
        if let apiKey = upstream.apiKey {
            let credential = call.api.credentialHeader(apiKey)
            outgoing.headers.replaceOrAdd(name: credential.name, value: credential.value)
        }
        outgoing.body = .bytes(ByteBuffer(bytes: call.upstreamBody))

        let response: HTTPClientResponse
        do {
            response = try await client.execute(outgoing, deadline: .now() + UpstreamClient.timeAmount(configuration.proxy.requestTimeout))
        } catch {
            await releaseProxied(admitted, outcome: "upstream_error")
            logger.warning("upstream call failed", metadata: ["proxy.api": "\(call.api.rawValue)", "proxy.request_id": "\(call.requestID)",
                                                               "proxy.error": "\(error)"])
            let timedOut = (error as? HTTPClientError) == .deadlineExceeded || (error as? HTTPClientError) == .readTimeout
            throw APIError(timedOut ? .gatewayTimeout : .badGateway, "upstream_unreachable",
                           timedOut ? "the provider did not answer in time" : "the provider could not be reached")
        }

        var headers = Self.relayedHeaders(response.headers)
        headers[ProxyHeaders.responseRequestID] = call.requestID
        let status = HTTPResponse.Status(code: Int(response.status.code))
        let isStream = response.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
        guard (200..<300).contains(status.code) else {
            // The provider refused or failed: it bills nothing; its answer goes back as it is.
            let body = (try? await response.body.collect(upTo: configuration.proxy.responseLimit)) ?? ByteBuffer()
            await releaseProxied(admitted, outcome: "upstream_error")
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
        }
        if isStream {
            return Response(status: status, headers: headers, body: ResponseBody { writer in
                try await self.relayStream(admitted, response.body, to: &writer)
            })
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: configuration.proxy.responseLimit)
        } catch {
            // The provider answered (and billed) but the body never arrived whole.
            await settleProxied(admitted, tracker: ProxyUsageTracker(api: call.api))
            throw APIError(.badGateway, "upstream_failed", "the provider's answer was cut off or too large")
        }
        var observed = ProxyUsageTracker(api: call.api)
        if let json = try? JSONValue.parse(body.readableBytesView) { observed.observeBody(json) }
        let tracker = observed
        // The journal holds the call's output before the answer goes out, so a gateway killed
        // before the commit still bills it; the commit then runs without delaying the answer
        // or the connection's next call.
        journal?.relayed(call.requestID, output: billedUsage(admitted, tracker: tracker).usage.totalOutput)
        await settlements.settle { await self.settleProxied(admitted, tracker: tracker) }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }

    /// Commits the provider's usage, or the gateway's own count when there is none (the
    /// ledger's usage format is then `counted`). Never throws: the answer is already out.
    func settleProxied(_ admitted: AdmittedCall, tracker: ProxyUsageTracker) async {
        let call = admitted.call
        let (usage, format) = billedUsage(admitted, tracker: tracker)
        let elapsed = ContinuousClock.now - admitted.started
        let latency = elapsed.components.seconds * 1_000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        let price = admitted.price
        let settle = SettleRequest(kind: .commit, requestID: call.requestID, usage: usage, format: format, price: price, user: call.user,
                                   feature: call.feature, session: call.session, experiment: call.experiment, latencyMillis: latency)
        let entry = commitEntry(admitted, usage: usage, format: format, latencyMillis: latency)
        defer { journal?.end(call.requestID) }
        do {
            _ = try await settleOrSpool(settle, spoolEntry: entry, snapshot: admitted.snapshot, plan: admitted.plan)
            metrics.proxyCall(api: call.api.rawValue, outcome: format == .counted ? "counted" : "committed")
        } catch {
            logger.error("proxied call's commit failed; its hold will expire", metadata: [
                "proxy.api": "\(call.api.rawValue)", "proxy.request_id": "\(call.requestID)", "proxy.error": "\(error)",
            ])
        }
    }

    /// What a call that got an answer is billed: the provider's usage, or the gateway's own
    /// count (prompt plus relayed output, `counted`) when there is none; never zero.
    func billedUsage(_ admitted: AdmittedCall, tracker: ProxyUsageTracker) -> (usage: TokenUsage, format: UsageFormat) {
        var usage: TokenUsage
        var format = admitted.call.api.usageFormat
        if let reported = tracker.usage, let (normalised, _) = try? ProviderUsage.normalise(reported, format: format) {
            usage = normalised
        } else {
            usage = TokenUsage(input: admitted.tokens.prompt, output: admitted.tokens.text(tracker.relayedText))
            format = .counted
        }
        if usage.total == 0 {
            // A provider that reports nothing for a call it answered: bill the prompt.
            usage = TokenUsage(input: admitted.tokens.prompt)
            format = .counted
        }
        return (usage, format)
    }

    /// The call's commit as the spool (and the journal) keep it.
    func commitEntry(_ admitted: AdmittedCall, usage: TokenUsage, format: UsageFormat, latencyMillis: Int64?) -> SpoolEntry {
        let call = admitted.call
        let price = admitted.price
        return SpoolEntry(operation: .commit, requestID: call.requestID, apiKey: call.apiKey, usage: usage, format: format,
                          model: price.model, provider: price.provider, priceVersion: price.versionID, prices: price.prices.effective,
                          user: call.user, feature: call.feature, session: call.session, experiment: call.experiment,
                          latencyMillis: latencyMillis, spooledAt: self.now)
    }

    /// Returns the hold of a call the provider never answered (or refused).
    func releaseProxied(_ admitted: AdmittedCall, outcome: String) async {
        metrics.proxyCall(api: admitted.call.api.rawValue, outcome: outcome)
        defer { journal?.end(admitted.call.requestID) }
        guard admitted.holds else { return }
        let entry = SpoolEntry(operation: .release, requestID: admitted.call.requestID, apiKey: admitted.call.apiKey, spooledAt: self.now)
        do {
            _ = try await releaseOrSpool(entry, snapshot: admitted.snapshot, plan: admitted.plan)
        } catch {
            logger.error("proxied call's release failed; its hold will expire", metadata: [
                "proxy.request_id": "\(admitted.call.requestID)", "proxy.error": "\(error)",
            ])
        }
    }

    /// Anthropic's rate-limit headers for a refusal.
    private func anthropicHeaders(_ status: RateLimitStatus, now: Int64) -> HTTPFields {
        var fields = HTTPFields()
        if let limit = status.tokensLimit, let remaining = status.tokensRemaining {
            fields[ProxyHeaders.anthropicTokensLimit] = String(limit)
            fields[ProxyHeaders.anthropicTokensRemaining] = String(remaining)
            fields[ProxyHeaders.anthropicTokensReset] = Timestamp.format(now + Int64(RateLimitHeaders.wholeSeconds(status.tokensReset)) * 1_000)
        }
        if let limit = status.requestsLimit, let remaining = status.requestsRemaining {
            fields[ProxyHeaders.anthropicRequestsLimit] = String(limit)
            fields[ProxyHeaders.anthropicRequestsRemaining] = String(remaining)
            fields[ProxyHeaders.anthropicRequestsReset] = Timestamp.format(now + Int64(RateLimitHeaders.wholeSeconds(status.requestsReset)) * 1_000)
        }
        return fields
    }

    /// The provider's response headers, less those of the hop itself.
    static func relayedHeaders(_ headers: HTTPHeaders) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers {
            switch name.lowercased() {
            case "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "proxy-connection", "te", "trailer", "server", "date":
                continue
            default:
                if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
            }
        }
        return fields
    }
}

extension ProviderAPI {
    /// An ``APIError`` in this provider's shape.
    func errorResponse(_ error: APIError) -> Response {
        var headers = error.headers
        headers[.contentType] = "application/json"
        let body = errorBody(status: error.status, code: error.code, message: error.message, field: error.field)
        return Response(status: error.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
