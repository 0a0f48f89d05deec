import Crypto
import Hummingbird
import TollgateCore

/// Who is looking: an operator (every organisation) or one customer organisation.
enum Access: Sendable, Equatable {
    case `operator`
    case customer(String)

    static let cookieName = "tollgate_dashboard"

    /// The access of a request's token (cookie, or `Authorization: Bearer`); 401 without a
    /// valid one.
    static func of(_ request: Request, configuration: TollgateConfiguration) throws(DashboardError) -> Access {
        var secret = request.cookies[cookieName]?.value
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") { secret = String(header.dropFirst(7)) }
        guard let secret, !secret.isEmpty else { throw DashboardError(.unauthorized, "sign in with a dashboard token") }
        guard let token = token(secret, configuration) else { throw DashboardError(.unauthorized, "that dashboard token is not valid, or was revoked") }
        switch token.scope {
        case .operator: return .operator
        case .customer: return .customer(token.organization ?? "")
        }
    }

    static func token(_ secret: String, _ configuration: TollgateConfiguration) -> DashboardToken? {
        guard secret.utf8.count <= 256 else { return nil }
        let hash = SHA256.hash(data: Array(secret.utf8)).map { byte in String(byte, radix: 16).leftPadded(to: 2) }.joined()
        return configuration.dashboardToken(withHash: hash)
    }

    func allows(_ organization: String) -> Bool {
        switch self {
        case .operator: true
        case .customer(let own): own == organization
        }
    }

    /// 404 for an organisation that does not exist (operators), 403 for one the token may not see.
    func check(_ organization: String, in configuration: TollgateConfiguration) throws(DashboardError) {
        guard allows(organization) else { throw .forbidden }
        guard configuration.organizations[organization] != nil else { throw .notFound("there is no organization '\(organization.prefix(64))'") }
    }
}
