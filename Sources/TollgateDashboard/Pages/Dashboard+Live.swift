import Foundation
import Hummingbird
import NIOCore
import TollgateCore

extension Dashboard {
    /// Live: refusals, degraded decisions and alerts as they happen. The page is plain HTML;
    /// a short inline script appends each server-sent event to the table.
    func livePage(_ request: Request) throws -> Response {
        let (_, access) = try authorize(request)
        let scope: String
        switch access {
        case .operator: scope = "every organization"
        case .customer(let own): scope = "organization \(own)"
        }
        let body = """
        <p class="note">Refusals (429), degraded decisions (Redis unreachable, tier fails open) and alerts for \(HTML.escape(scope)), newest first, \
        from the moment this page opened. Times are UTC. This page needs JavaScript; every other page works without it.</p>
        <p class="note" id="live-status">connecting…</p>
        <table class="data" id="live"><thead><tr><th>time (UTC)</th><th>event</th><th>organization</th><th>details</th></tr></thead><tbody id="feed"></tbody></table>
        <script>
        (function () {
          var feed = document.getElementById('feed'), status = document.getElementById('live-status');
          var source = new EventSource('/live/events');
          source.onopen = function () { status.textContent = 'connected'; };
          source.onerror = function () { status.textContent = 'reconnecting…'; };
          source.onmessage = function (message) {
            var event = JSON.parse(message.data), row = document.createElement('tr');
            var kind = event.type || event.kind || 'event', details = [];
            for (var key in event) {
              if (key !== 'at' && key !== 'type' && key !== 'kind' && key !== 'organization') details.push(key + '=' + event[key]);
            }
            var cells = [new Date(event.at).toISOString().replace('T', ' ').slice(0, 23), kind, event.organization || '', details.join(' ')];
            row.className = 'event event-' + kind;
            cells.forEach(function (text) { var cell = document.createElement('td'); cell.textContent = text; row.appendChild(cell); });
            feed.insertBefore(row, feed.firstChild);
            while (feed.children.length > 500) feed.removeChild(feed.lastChild);
          };
        })();
        </script>
        """
        return Layout.response(Layout.page(title: "Live", access: access, body: body))
    }

    /// The server-sent events behind the live page: one `data:` line per event, a comment
    /// every 15 s to keep idle connections open.
    func liveEvents(_ request: Request) throws -> Response {
        let (_, access) = try authorize(request)
        let events = live.listen()
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: ": connected\n\n"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (ticks, tick) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(64))
                group.addTask {
                    for await event in events where access.allows(event.organization) { tick.yield("data: \(event.json)\n\n") }
                    tick.finish()
                }
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(15))
                        tick.yield(": keep-alive\n\n")
                    }
                }
                for await chunk in ticks { try await writer.write(ByteBuffer(string: chunk)) }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }
}
