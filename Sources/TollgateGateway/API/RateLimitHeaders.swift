import HTTPTypes
import TollgateCore

/// Rate-limit response headers for the most constraining level: OpenAI's
/// `x-ratelimit-*` names and formats, and the IETF draft `RateLimit-Policy` / `RateLimit`.
enum RateLimitHeaders {
    static let limitTokens = HTTPField.Name("x-ratelimit-limit-tokens")!
    static let remainingTokens = HTTPField.Name("x-ratelimit-remaining-tokens")!
    static let resetTokens = HTTPField.Name("x-ratelimit-reset-tokens")!
    static let limitRequests = HTTPField.Name("x-ratelimit-limit-requests")!
    static let remainingRequests = HTTPField.Name("x-ratelimit-remaining-requests")!
    static let resetRequests = HTTPField.Name("x-ratelimit-reset-requests")!
    static let policy = HTTPField.Name("RateLimit-Policy")!
    static let rateLimit = HTTPField.Name("RateLimit")!
    static let degraded = HTTPField.Name("x-tollgate-degraded")!

    static func fields(_ status: RateLimitStatus, windowSeconds: Int) -> HTTPFields {
        var fields = HTTPFields()
        var policies: [String] = []
        var current: [String] = []
        if let limit = status.tokensLimit, let remaining = status.tokensRemaining {
            fields[limitTokens] = String(limit)
            fields[remainingTokens] = String(remaining)
            fields[resetTokens] = goDuration(status.tokensReset)
            policies.append("\"tokens\";q=\(limit);w=\(windowSeconds)")
            current.append("\"tokens\";r=\(remaining);t=\(wholeSeconds(status.tokensReset))")
        }
        if let limit = status.requestsLimit, let remaining = status.requestsRemaining {
            fields[limitRequests] = String(limit)
            fields[remainingRequests] = String(remaining)
            fields[resetRequests] = goDuration(status.requestsReset)
            policies.append("\"requests\";q=\(limit);w=\(windowSeconds)")
            current.append("\"requests\";r=\(remaining);t=\(wholeSeconds(status.requestsReset))")
        }
        if !policies.isEmpty {
            fields[policy] = policies.joined(separator: ", ")
            fields[rateLimit] = current.joined(separator: ", ")
        }
        return fields
    }

    /// Whole seconds, rounded up, at least 1: the value of `Retry-After`.
    static func retryAfterSeconds(_ duration: Duration) -> Int64 {
        max(1, wholeSeconds(duration))
    }

    static func wholeSeconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(0, seconds + (attoseconds > 0 ? 1 : 0))
    }

    /// OpenAI's format (Go's time.Duration): `6m0s`, `1.5s`, `20ms`, `0s`.
    static func goDuration(_ duration: Duration) -> String {
        let milliseconds = max(0, duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000)
        if milliseconds == 0 { return "0s" }
        if milliseconds < 1_000 { return "\(milliseconds)ms" }
        let hours = milliseconds / 3_600_000
        let minutes = (milliseconds % 3_600_000) / 60_000
        let seconds = (milliseconds % 60_000) / 1_000
        let fraction = milliseconds % 1_000
        var text = ""
        if hours > 0 { text += "\(hours)h" }
        if hours > 0 || minutes > 0 { text += "\(minutes)m" }
        text += "\(seconds)"
        if fraction > 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 3 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text + "s"
    }
}
