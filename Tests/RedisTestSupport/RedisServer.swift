import Foundation
import Glibc
import Logging
import Synchronization
import TollgateRedis

/// A `redis-server` started for tests: on a free loopback port, in its own temporary
/// directory, stopped by its PID and nothing else.
public final class RedisServer: Sendable {
    public struct Options: Sendable {
        public var appendOnly = false
        public var clusterEnabled = false
        public var extraArguments: [String] = []
        public init(appendOnly: Bool = false, clusterEnabled: Bool = false, extraArguments: [String] = []) {
            self.appendOnly = appendOnly
            self.clusterEnabled = clusterEnabled
            self.extraArguments = extraArguments
        }
    }

    public let port: Int
    public let directory: String
    public let options: Options
    private let process: Mutex<pid_t?>

    /// Whether integration tests can run here. Outside CI a missing `redis-server` disables
    /// them (visibly, as skipped); with `CI=true` they always run, and fail if Redis cannot start.
    public static var isAvailable: Bool {
        ProcessInfo.processInfo.environment["CI"] == "true" || executablePath != nil
    }

    static var executablePath: String? {
        let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/usr/local/bin")
            .split(separator: ":").map { "\($0)/redis-server" } + ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        return candidates.first { access($0, X_OK) == 0 }
    }

    private init(port: Int, directory: String, options: Options, pid: pid_t) {
        self.port = port
        self.directory = directory
        self.options = options
        self.process = Mutex(pid)
    }

    /// Starts a server on a free port (or on `port`) and waits until it answers `PING`.
    public static func start(_ options: Options = Options(), port fixedPort: Int? = nil) async throws -> RedisServer {
        guard let executable = executablePath else { throw HarnessError("redis-server is not installed (apt-get install -y redis-server)") }
        let directory = try makeTemporaryDirectory()
        var lastError: (any Error)?
        for _ in 0..<5 {
            var port = try fixedPort ?? freeLoopbackPort()
            // A cluster node also listens on port + 10000, so its port must be 55535 or less.
            for _ in 0..<100 where options.clusterEnabled && port > 55_535 { port = try freeLoopbackPort() }
            do {
                let pid = try spawn(executable, arguments(port: port, directory: directory, options: options))
                let server = RedisServer(port: port, directory: directory, options: options, pid: pid)
                ServerRegistry.register(pid)
                if try await server.waitUntilReady() { return server }
                await server.stop()
                lastError = HarnessError("redis-server on port \(port) did not become ready; log: \(server.logTail())")
            } catch {
                lastError = error
            }
        }
        throw lastError ?? HarnessError("redis-server did not start")
    }

    /// Starts the same server again (same port, same directory, so an AOF file is replayed).
    /// With `untilLoaded: false` it returns as soon as the server answers at all, which may
    /// be `LOADING` while it replays its AOF.
    public func restart(untilLoaded: Bool = true) async throws {
        await stop()
        guard let executable = Self.executablePath else { throw HarnessError("redis-server is not installed") }
        for _ in 0..<50 {
            let pid = try Self.spawn(executable, Self.arguments(port: port, directory: directory, options: options))
            ServerRegistry.register(pid)
            process.withLock { $0 = pid }
            if try await waitUntilReady(acceptLoading: !untilLoaded) { return }
            await stop()
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("redis-server did not restart on port \(port); log: \(logTail())")
    }

    public var pid: pid_t? { process.withLock { $0 } }

    public var url: String { "redis://127.0.0.1:\(port)" }

    public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    public func configuration(connections: Int = 2, timeout: Duration = .seconds(2)) -> RedisConfiguration {
        RedisConfiguration(endpoint: endpoint, connectionCount: connections, connectTimeout: timeout, commandTimeout: timeout)
    }

    public func client(connections: Int = 2, timeout: Duration = .seconds(2)) -> RedisClient {
        RedisClient(configuration: configuration(connections: connections, timeout: timeout), logger: Logger.quiet)
    }

    /// Sends SIGSTOP: the process keeps its socket but answers nothing.
    public func pause() { signal(SIGSTOP) }
    public func resume() { signal(SIGCONT) }

    /// Stops the server we started (SIGTERM, then SIGKILL after 5 s) and reaps it,
    /// without blocking a thread of the cooperative pool.
    public func stop() async {
        guard let pid = takePID() else { return }
        Glibc.kill(pid, SIGCONT)
        Glibc.kill(pid, SIGTERM)
        await Self.reap(pid, graceSeconds: 5)
    }

    /// Kills the server with SIGKILL, as a crash would.
    public func crash() async {
        guard let pid = takePID() else { return }
        Glibc.kill(pid, SIGKILL)
        await Self.reap(pid, graceSeconds: 5)
    }

    deinit {
        if let pid = takePID() {
            Glibc.kill(pid, SIGCONT)
            Glibc.kill(pid, SIGTERM)
            Self.reapBlocking(pid, graceSeconds: 5)
        }
    }

    private func takePID() -> pid_t? {
        process.withLock { value -> pid_t? in defer { value = nil }; return value }
    }

    public func logTail() -> String {
        let text = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? ""
        return String(text.suffix(1_500))
    }

    private func signal(_ signal: Int32) {
        if let pid { Glibc.kill(pid, signal) }
    }

    private func waitUntilReady(acceptLoading: Bool = false) async throws -> Bool {
        for _ in 0..<200 {
            guard let pid else { return false }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                process.withLock { $0 = nil }
                ServerRegistry.unregister(pid)
                return false
            }
            if Self.ping(port: port, acceptLoading: acceptLoading) { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return false
    }

    private static func arguments(port: Int, directory: String, options: Options) -> [String] {
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--dir", directory,
            "--logfile", directory + "/redis.log", "--save", "", "--daemonize", "no",
            "--appendonly", options.appendOnly ? "yes" : "no", "--appendfsync", "always",
        ]
        if options.clusterEnabled {
            arguments += ["--cluster-enabled", "yes", "--cluster-config-file", directory + "/nodes.conf"]
        }
        return arguments + options.extraArguments
    }

    static func spawn(_ executable: String, _ arguments: [String], output: String = "/dev/null", errors: String? = nil, environment: [String]? = nil,
                      directory: String? = nil) throws -> pid_t {
        var pid: pid_t = 0
        // In another working directory: through `sh`, which changes to it and execs the
        // program in its own place (same PID). (posix_spawn_file_actions_addchdir_np is not
        // visible from Swift here.)
        let (executable, arguments) = directory.map { ("/bin/sh", ["-c", #"cd -- "$0" && exec "$@""#, $0, executable] + arguments) } ?? (executable, arguments)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if let errors {
            posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // A clean signal state: the test runner may block or ignore signals (SIGTERM among
        // them), and a spawned child would inherit that and ignore our stop request.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let environmentPointers = environment.map { $0.map { strdup($0) } + [nil] }
        defer { for pointer in environmentPointers ?? [] { free(pointer) } }
        let result = environmentPointers.map { pointers in
            posix_spawn(&pid, executable, &actions, &attributes, argv, pointers)
        } ?? posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw HarnessError("posix_spawn \(executable) failed: \(String(cString: strerror(result)))") }
        return pid
    }

    static func reap(_ pid: pid_t, graceSeconds: Int) async {
        var status: Int32 = 0
        for _ in 0..<(graceSeconds * 200) {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || result == -1 { return ServerRegistry.unregister(pid) }
            try? await Task.sleep(for: .milliseconds(5))
        }
        Glibc.kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        ServerRegistry.unregister(pid)
    }

    static func reapBlocking(_ pid: pid_t, graceSeconds: Int) {
        var status: Int32 = 0
        for _ in 0..<(graceSeconds * 200) {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || result == -1 { return ServerRegistry.unregister(pid) }
            usleep(5_000)
        }
        Glibc.kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        ServerRegistry.unregister(pid)
    }

    /// Ports this test process has handed out. One is never handed out twice: a server
    /// stopped for a restart, or a gateway whose Redis was killed, keeps clients dialling its
    /// port, and a second server there would take those connections (a CI run once counted a
    /// third client on a test's own two-connection server).
    private static let handedOut = Mutex<Set<Int>>([])

    /// A free port on 127.0.0.1 that no other test in this process was given.
    public static func freeLoopbackPort() throws -> Int {
        for _ in 0..<1_000 {
            let port = try unusedPortFromTheKernel()
            // A cluster node also listens on port + 10000, so that one is taken too.
            let isNew = handedOut.withLock { taken in
                guard !taken.contains(port), !taken.contains(port + 10_000) else { return false }
                taken.formUnion([port, port + 10_000])
                return true
            }
            if isNew { return port }
        }
        throw HarnessError("no free loopback port in 1,000 tries")
    }

    /// Asks the OS for a free port on 127.0.0.1.
    private static func unusedPortFromTheKernel() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw HarnessError("bind() failed") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A raw `PING` over a fresh socket, independent of the client under test.
    static func ping(port: Int, acceptLoading: Bool = false) -> Bool {
        let fd = connectLoopback(port: port)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let request = Array("PING\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0 else { return false }
        let reply = String(decoding: buffer[0..<count], as: UTF8.self)
        return reply.hasPrefix("+PONG") || (acceptLoading && reply.hasPrefix("-LOADING"))
    }

    /// A socket connected to `port` on 127.0.0.1 (reads time out after 1 s), or -1.
    public static func connectLoopback(port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return -1
        }
        return fd
    }

    public static func makeTemporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/tollgate-redis-XXXXXX").utf8CString)
        guard let path = mkdtemp(&template) else { throw HarnessError("mkdtemp failed") }
        return String(cString: path)
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// PIDs of servers still running, killed at process exit so that no test leaves one behind.
enum ServerRegistry {
    private static let pids = Mutex<Set<pid_t>>([])
    private static let installed = Mutex(false)

    static func register(_ pid: pid_t) {
        pids.withLock { _ = $0.insert(pid) }
        let first = installed.withLock { value -> Bool in defer { value = true }; return !value }
        if first { atexit { ServerRegistry.killAll() } }
    }

    static func unregister(_ pid: pid_t) { pids.withLock { _ = $0.remove(pid) } }

    /// Whether `pid` is one of ours and not reaped yet.
    static func contains(_ pid: pid_t) -> Bool { pids.withLock { $0.contains(pid) } }

    static func killAll() {
        let remaining = pids.withLock { $0 }
        for pid in remaining {
            Glibc.kill(pid, SIGCONT)
            Glibc.kill(pid, SIGTERM)
            RedisServer.reapBlocking(pid, graceSeconds: 2)
        }
    }
}

extension Logger {
    /// A logger that drops everything below `warning`, for tests.
    public static var quiet: Logger {
        var logger = Logger(label: "tollgate.test")
        logger.logLevel = ProcessInfo.processInfo.environment["TOLLGATE_TEST_LOG"] == "debug" ? .debug : .critical
        return logger
    }
}
