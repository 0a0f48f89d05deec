/// How a dashboard process runs.
public struct DashboardConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var configurationPollInterval: Duration
    /// The longest report range, in days (the CLI's limit too).
    public var maximumRangeDays: Int
    public var clockOffsetMillis: Int64
    /// How many organisations the overview lists (the highest-cost in the range).
    public var overviewOrganizations: Int

    public init(host: String = "127.0.0.1", port: Int = 8090, configurationPollInterval: Duration = .milliseconds(250),
                maximumRangeDays: Int = 400, clockOffsetMillis: Int64 = 0, overviewOrganizations: Int = 50) {
        self.host = host
        self.port = port
        self.configurationPollInterval = configurationPollInterval
        self.maximumRangeDays = maximumRangeDays
        self.clockOffsetMillis = clockOffsetMillis
        self.overviewOrganizations = max(1, overviewOrganizations)
    }
}
