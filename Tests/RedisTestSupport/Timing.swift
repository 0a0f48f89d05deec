import Foundation

/// How late a thread may run on a loaded test machine, on top of a configured timeout.
///
/// `swift test` runs every suite at once on two cores, next to several `redis-server` and
/// gateway processes; there a worker thread that is due waited its turn for up to 1.3 s in
/// fresh-clone runs (a client's 200 ms timeout answered after 1.41 s, a gateway's 2 s Redis
/// timeout after 3.14 s). So the slack is 2.5 s by default. `Scripts/test.sh` runs the fault
/// drills and the client's time bounds each on their own, where nothing else loads the
/// machine, with `TOLLGATE_SCHEDULING_SLACK_MS=1000`, and so the customer-cache suites of the
/// cluster stage, whose "visible within a second" it bounds. Tests that prove "fails within its
/// timeout, never hangs" bound a call by `timeout + schedulingSlack`: a hang (a default
/// connect timeout, a blocked read) still blows far past it, a busy scheduler does not.
public let schedulingSlack: Duration = .milliseconds(
    ProcessInfo.processInfo.environment["TOLLGATE_SCHEDULING_SLACK_MS"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { max(0, $0) } ?? 2_500)
