import AsyncHTTPClient
import Hummingbird
import Logging
import NIOCore
import TollgateCore

extension Gateway {
    /// Relays a server-sent-event stream event by event as it arrives, following it for
    /// the provider's usage, then commits. A client that goes away stops the relay, not the
    /// reading: the gateway keeps reading (up to the disconnect drain) for the provider's
    /// usage, and otherwise bills the prompt plus the output it relayed. A stream the
    /// upstream cuts is billed the same way, and the client's stream is cut too.
    func relayStream(_ admitted: AdmittedCall, _ body: HTTPClientResponse.Body, to writer: inout any ResponseBodyWriter) async throws {
        var tracker = ProxyUsageTracker(api: admitted.call.api, clientWantsUsageChunk: !admitted.call.hidesUsageChunk)
        var scanner = ServerSentEventScanner()
        var clientGoneAt: ContinuousClock.Instant?
        var upstreamError: (any Error)?
        let drain = configuration.proxy.disconnectDrain
        // The output relayed so far, marked in the journal after each write to the client.
        var marked = (bytes: 0, tokens: Int64(0))
        do {
            for try await chunk in body {
                var relay = ByteBuffer()
                for event in scanner.append(chunk.readableBytesView) {
                    let data = ServerSentEventScanner.data(of: event)
                    if let data, !tracker.observeEvent(data) { continue }
                    relay.writeBytes(event)
                }
                if let gone = clientGoneAt {
                    if tracker.usage != nil || ContinuousClock.now - gone > drain { break }
                    continue
                }
                guard relay.readableBytes > 0 else { continue }
                do {
                    try await writer.write(relay)
                    if let journal, tracker.relayedText.utf8.count > marked.bytes {
                        let delta = String(Substring(tracker.relayedText.utf8.dropFirst(marked.bytes)))
                        marked = (tracker.relayedText.utf8.count, marked.tokens + admitted.tokens.text(delta))
                        journal.relayed(admitted.call.requestID, output: marked.tokens)
                    }
                } catch {
                    clientGoneAt = ContinuousClock.now
                    if tracker.usage != nil || drain == .zero { break }
                }
            }
        } catch {
            upstreamError = error
        }
        if clientGoneAt == nil && upstreamError == nil {
            let rest = scanner.finish()
            if !rest.isEmpty {
                if let data = ServerSentEventScanner.data(of: rest) { _ = tracker.observeEvent(data) }
                try? await writer.write(ByteBuffer(bytes: rest))
            }
        }
        // The relayed output is in the journal: the stream ends without waiting for the commit.
        let observed = tracker
        await settlements.settle { await self.settleProxied(admitted, tracker: observed) }
        if clientGoneAt != nil {
            logger.info("client left mid-stream", metadata: ["proxy.request_id": "\(admitted.call.requestID)",
                                                             "proxy.usage": "\(tracker.usage == nil ? "counted" : "provider")"])
            return
        }
        if let upstreamError {
            logger.warning("upstream stream cut", metadata: ["proxy.request_id": "\(admitted.call.requestID)", "proxy.error": "\(upstreamError)"])
            // Ending the response abruptly tells the client its stream is incomplete.
            throw upstreamError
        }
        try await writer.finish(nil)
    }
}
