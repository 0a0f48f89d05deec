import HTTPTypes
import Hummingbird

/// Answers `405 Method Not Allowed` with `Allow` and the API's JSON error for a method the
/// router has no route for on a path it knows; other requests go on (to a 404).
///
/// Add it after every route: Hummingbird then puts it in front of the not-found responder
/// only, so matched requests never pass through it.
public struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Each known path's segments (`nil` for a parameter) and the methods it answers.
    let paths: [(segments: [Substring?], allow: String)]

    public init(routes: [RouteDescription]) {
        var methods: [String: [String]] = [:]
        var order: [String] = []
        for route in routes {
            let path = route.path.description
            if methods[path] == nil { order.append(path) }
            methods[path, default: []].append(route.method.rawValue)
        }
        paths = order.map { path in
            let segments = path.split(separator: "/").map { part -> Substring? in part.hasPrefix("{") || part.hasPrefix(":") ? nil : part }
            return (segments, methods[path, default: []].sorted().joined(separator: ", "))
        }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let requested = request.uri.path.split(separator: "/")
        guard let known = paths.first(where: { Self.matches(requested, $0.segments) }) else {
            return try await next(request, context)
        }
        return APIError(.methodNotAllowed, "method_not_allowed", "\(request.method.rawValue) is not allowed here; use \(known.allow)",
                        headers: [.allow: known.allow]).response()
    }

    static func matches(_ requested: [Substring], _ segments: [Substring?]) -> Bool {
        requested.count == segments.count && zip(requested, segments).allSatisfy { part, segment in segment.map { $0 == part } ?? !part.isEmpty }
    }
}

extension MethodNotAllowedMiddleware {
    public typealias RouteDescription = Router<Context>.RouteDescription
}
