import Foundation
import Glibc

/// A process a test starts — one of the package's own executables — waited for without
/// blocking the cooperative pool, and stopped by its PID only.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let outputPath: String
    /// Where stderr goes when it is kept apart from stdout.
    public let errorPath: String?

    /// Starts `executable` with `arguments` (in `directory`, if given); its stdout (and
    /// stderr, unless `separateErrors`) go to a temporary file.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], separateErrors: Bool = false,
                directory: String? = nil) throws {
        let outputDirectory = try RedisServer.makeTemporaryDirectory()
        outputPath = outputDirectory + "/output.txt"
        errorPath = separateErrors ? outputDirectory + "/errors.txt" : nil
        var environmentPairs = ProcessInfo.processInfo.environment
        for (name, value) in environment { environmentPairs[name] = value }
        pid = try RedisServer.spawn(executable, arguments, output: outputPath, errors: errorPath, environment: environmentPairs.map { "\($0)=\($1)" },
                                    directory: directory)
        ServerRegistry.register(pid)
        TestLeftovers.register(self)
    }

    public var errors: String { errorPath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "" }

    /// Waits for the process to exit (or kills it after `timeout`) and returns its exit status.
    public func wait(timeout: Duration = .seconds(120)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                ServerRegistry.unregister(pid)
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            }
            if result == -1 { return -1 }
            try? await Task.sleep(for: .milliseconds(20))
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        ServerRegistry.unregister(pid)
        return -9
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// The path of one of the package's executables, next to the test bundle
    /// (`swift build --build-tests` builds them all).
    public static func executable(_ name: String) throws -> String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var candidates = [testBinary.deletingLastPathComponent().appendingPathComponent(name).path]
        // Swift Testing may run from inside the .xctest bundle directory.
        candidates.append(testBinary.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(name).path)
        if let directory = ProcessInfo.processInfo.environment["TOLLGATE_BIN_DIR"] { candidates.insert(directory + "/" + name, at: 0) }
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw HarnessError("\(name) is not built (looked in \(candidates)); run `swift build --build-tests` first")
        }
        return found
    }
}
