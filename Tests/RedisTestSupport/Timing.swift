/// How late a thread may run on a loaded test machine, on top of a configured timeout.
///
/// CI runs every suite in parallel on two cores, next to several `redis-server` and
/// gateway processes; a worker thread that is due can wait its turn for hundreds of
/// milliseconds. Tests that prove "fails within its timeout, never hangs" bound a call by
/// `timeout + schedulingSlack`: a hang (a default connect timeout, a blocked read) still
/// blows far past it, a busy scheduler does not.
public let schedulingSlack: Duration = .seconds(1)
