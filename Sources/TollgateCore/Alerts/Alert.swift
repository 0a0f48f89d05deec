import Foundation

/// Something an operator should know before a customer notices.
public struct Alert: Sendable, Codable, Hashable {
    /// `budget_threshold`, `tpm_saturated`, `budget_projection` or `cache_hit_low`.
    public var kind: String
    public var organization: String
    /// `organization`, `workspace` or `key`.
    public var scope: String
    public var subject: String
    /// `budget_daily`, `budget_monthly`, `tokens_daily`, `tokens_monthly`, `tpm` or `cache_hit_rate`.
    public var limit: String
    /// The threshold crossed, in percent (0 for projections).
    public var threshold: Int
    /// Use now, in percent of the limit.
    public var percent: Int
    public var used: String
    public var of: String
    /// The period the alert is about: `2026-11-23`, `2026-11`, or an hour `2026-11-23T14`.
    public var period: String
    public var message: String
    public var at: Int64
    /// Unique per subject, threshold and period: the same alert never fires twice.
    public var id: String

    public init(kind: String, organization: String, scope: String, subject: String, limit: String, threshold: Int, percent: Int,
                used: String, of: String, period: String, message: String, at: Int64, id: String) {
        self.kind = kind
        self.organization = organization
        self.scope = scope
        self.subject = subject
        self.limit = limit
        self.threshold = threshold
        self.percent = percent
        self.used = used
        self.of = of
        self.period = period
        self.message = message
        self.at = at
        self.id = id
    }

    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }
}
