import HTTPTypes
import Hummingbird
import Logging

/// A request the dashboard cannot answer with a page: rendered as a short HTML page with
/// the status (4xx for anything the request got wrong).
public struct DashboardError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var message: String

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    static func badRequest(_ message: String) -> DashboardError { DashboardError(.badRequest, message) }
    static func notFound(_ message: String) -> DashboardError { DashboardError(.notFound, message) }
    static let forbidden = DashboardError(.forbidden, "this token may not see that organization")

    func response() -> Response {
        var body = "<p class=\"error\">\(HTML.escape(message))</p>"
        if status == .unauthorized { body += Layout.loginForm }
        let page = Layout.page(title: "\(status.code) \(status.reasonPhrase)", access: nil, body: body)
        return Layout.response(page, status: status)
    }
}

/// Turns every error into an error page: the dashboard never answers a bare 500 for bad input.
struct ErrorPageMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as DashboardError {
            return error.response()
        } catch let error as HTTPError {
            return DashboardError(error.status, error.body ?? error.status.reasonPhrase).response()
        } catch {
            context.logger.error("dashboard page failed", metadata: ["dashboard.error": "\(error)"])
            return DashboardError(.internalServerError, "the page could not be built; see the dashboard's log").response()
        }
    }
}
