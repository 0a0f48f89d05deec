import Foundation
import Synchronization
import TollgateCore

/// A timezone under the name the configuration gives it (Foundation on Linux calls UTC "GMT").
struct NamedTimeZone: Sendable, Equatable {
    var name: String
    var zone: TimeZone

    init(_ name: String) {
        let zone = Self.zone(name)
        self.name = zone == nil ? "UTC" : name
        self.zone = zone ?? TimeZone(identifier: "UTC")!
    }

    /// Foundation builds a timezone from its database file each time: the overview asks for
    /// one per organisation, so known names are kept (a bounded set: the tiers' names).
    private static let known = Mutex<[String: TimeZone?]>([:])

    private static func zone(_ name: String) -> TimeZone? {
        if let cached = known.withLock({ $0[name] }) { return cached }
        let zone = TimeZone(identifier: name)
        known.withLock { if $0.count < 1_000 { $0[name] = zone } }
        return zone
    }
}

/// The days a page reports on, in one timezone: `from` and `to` inclusive (YYYY-MM-DD).
struct ReportRange: Sendable, Equatable {
    var from: String
    var to: String
    var timezone: NamedTimeZone

    /// The range of a request's `from`, `to` and `tz`: by default this month to date in
    /// `timezone`. A request's `tz` must be a known IANA name; where the roll-ups are kept
    /// in one timezone (an organisation's), it must be that one.
    static func parse(from: String?, to: String?, tz: String?, timezone: NamedTimeZone, now: Int64, maximumDays: Int) throws(DashboardError) -> ReportRange {
        if let tz, !tz.isEmpty {
            guard tz.count <= 64, let named = TimeZone(identifier: tz) else {
                throw .badRequest("'\(tz.prefix(64))' is not a timezone (use an IANA name such as UTC or Europe/Berlin)")
            }
            guard named.identifier == timezone.zone.identifier else {
                throw .badRequest("these figures are kept in \(timezone.name) days (the tier's timezone); use tz=\(timezone.name)")
            }
        }
        let zone = timezone
        let today = PeriodCalendar(timezone: zone.zone).dayLabel(now)
        let end = to.flatMap { $0.isEmpty ? nil : $0 } ?? today
        let start = from.flatMap { $0.isEmpty ? nil : $0 } ?? String(end.prefix(8)) + "01"
        let startDay = try day(start, "from"), endDay = try day(end, "to")
        guard startDay <= endDay else { throw .badRequest("the range ends (\(end)) before it starts (\(start))") }
        let count = (endDay - startDay) / 86_400_000 + 1
        guard count <= Int64(maximumDays) else { throw .badRequest("a range covers at most \(maximumDays) days; this one has \(count)") }
        return ReportRange(from: start, to: end, timezone: zone)
    }

    /// Midnight UTC of a YYYY-MM-DD day, in ms (only for counting and stepping days).
    private static func day(_ text: String, _ name: String) throws(DashboardError) -> Int64 {
        guard text.count == 10, let millis = Timestamp.parse(text), PeriodCalendar(timezone: TimeZone(identifier: "UTC")!).dayLabel(millis) == text else {
            throw .badRequest("\(name) '\(text.prefix(40))' is not a date (YYYY-MM-DD)")
        }
        return millis
    }

    /// Day roll-up labels (YYYYMMDD), first to last.
    var dayLabels: [String] { days.map { $0.replacingOccurrences(of: "-", with: "") } }

    /// YYYY-MM-DD of every day in the range.
    var days: [String] {
        let utc = PeriodCalendar(timezone: TimeZone(identifier: "UTC")!)
        guard let start = Timestamp.parse(from), let end = Timestamp.parse(to) else { return [] }
        return stride(from: start, through: end, by: 86_400_000).map { utc.dayLabel($0) }
    }

    /// The query string of this range (for links that keep it).
    var query: String { "from=\(from)&to=\(to)&tz=\(HTML.query(timezone.name))" }

    /// This range narrowed to one day.
    func only(_ day: String) -> ReportRange { ReportRange(from: day, to: day, timezone: timezone) }
}
