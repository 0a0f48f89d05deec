import Foundation

/// Calendar days and months in a timezone: where budget periods start and end.
public struct PeriodCalendar: Sendable {
    public let timezone: TimeZone

    public init(timezone: TimeZone) { self.timezone = timezone }

    /// The starts of the next day and the next month after `now` (ms since 1970).
    public func resets(after now: Int64) -> (day: Int64, month: Int64) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timezone
        let date = Date(timeIntervalSince1970: Double(now) / 1000)
        let startOfDay = calendar.startOfDay(for: date)
        let nextDay = calendar.date(byAdding: .day, value: 1, to: startOfDay) ?? date
        let monthStart = calendar.date(from: calendar.dateComponents([.year, .month], from: date)) ?? date
        let nextMonth = calendar.date(byAdding: .month, value: 1, to: monthStart) ?? date
        return (Int64(nextDay.timeIntervalSince1970 * 1000), Int64(nextMonth.timeIntervalSince1970 * 1000))
    }

    /// `YYYY-MM-DD` of the day containing `time`, in this timezone.
    public func dayLabel(_ time: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timezone
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(time) / 1000))
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }
}
