import Foundation
import RedisTestSupport
import Testing

/// Flags and `TOLLGATE_*` variables that do not parse stop the real binary at start: exit 64,
/// one sentence naming the flag or variable and what it takes. Nothing needs Redis: the
/// process must refuse before it connects (a process that started would run until killed).
@Suite struct ProcessConfigurationTests {
    static let cases: [(arguments: [String], environment: [String: String], names: String, takes: String)] = [
        (["serve"], ["TOLLGATE_PORT": "abc"], "TOLLGATE_PORT='abc'", "an integer from 1 to 65535"),
        (["serve", "--port", "9999"], ["TOLLGATE_PORT": "abc"], "TOLLGATE_PORT='abc'", "an integer from 1 to 65535"),
        (["serve"], ["TOLLGATE_PORT": "70000"], "TOLLGATE_PORT='70000'", "an integer from 1 to 65535"),
        (["serve"], ["TOLLGATE_REDIS_TIMEOUT_MS": "5s"], "TOLLGATE_REDIS_TIMEOUT_MS='5s'", "an integer from 1 to 60000"),
        (["serve"], ["TOLLGATE_LOG_LEVEL": "verbose"], "TOLLGATE_LOG_LEVEL='verbose'", "one of trace, debug"),
        (["serve"], ["TOLLGATE_HOST": "local host"], "TOLLGATE_HOST='local host'", "a host name or IP address"),
        (["serve"], ["TOLLGATE_REDIS_URL": "http://127.0.0.1:6379"], "TOLLGATE_REDIS_URL='http://127.0.0.1:6379'", "redis://"),
        (["serve"], ["TOLLGATE_KEY_PREFIX": "{tg}"], "TOLLGATE_KEY_PREFIX='{tg}'", "without braces or spaces"),
        (["monitor"], ["TOLLGATE_METRICS_PORT": "9464x"], "TOLLGATE_METRICS_PORT='9464x'", "an integer from 0 to 65535"),
        (["monitor"], ["TOLLGATE_WEBHOOK_URL": "ftp://hooks.example"], "TOLLGATE_WEBHOOK_URL='ftp://hooks.example'", "an http:// or https:// URL"),
        (["ping"], ["TOLLGATE_REDIS_TIMEOUT_MS": "0"], "TOLLGATE_REDIS_TIMEOUT_MS='0'", "an integer from 1 to 60000"),
        (["tier", "list"], ["TOLLGATE_KEY_PREFIX": "a b"], "TOLLGATE_KEY_PREFIX='a b'", "without braces or spaces"),
        (["tier", "list"], ["TOLLGATE_REDIS_URL": "localhost"], "TOLLGATE_REDIS_URL='localhost'", "redis://"),
        (["serve", "--port", "abc"], [:], "--port", "1-65535"),
        (["serve", "--port", "0"], [:], "--port", "between 1 and 65535"),
        (["serve", "--host", "local host"], [:], "--host", "without spaces"),
        (["monitor", "--metrics-host", ""], [:], "--metrics-host", "without spaces"),
        (["serve", "--drain-seconds", "inf"], [:], "--drain-seconds", "between 0 and 3600"),
        (["serve", "--poll-ms", "5"], [:], "--poll-ms", "between 10 and 60000"),
        (["serve", "--spool-limit=-1"], [:], "--spool-limit", "at least 1024"),
        (["serve", "--body-limit", "64k"], [:], "--body-limit", "bytes"),
        (["serve", "--redis-timeout-ms", "0.5"], [:], "--redis-timeout-ms", "1-60000"),
        (["monitor", "--metrics-port=-1"], [:], "--metrics-port", "between 0 and 65535"),
        (["monitor", "--alert-seconds", "5s"], [:], "--alert-seconds", "alert evaluations"),
        (["monitor", "--expiry-seconds", "nan"], [:], "--expiry-seconds", "between 0.01 and 86400"),
        (["monitor", "--claim-seconds", "1e300"], [:], "--claim-seconds", "between 0.01 and 86400"),
        (["monitor", "--log-level", "loud"], [:], "--log-level", "one of trace"),
    ]

    @Test func unparsableFlagsAndVariablesAreRefusedAtStart() async throws {
        // A Redis nobody listens on: the process must stop before it would connect.
        let cli = CLI(redisURL: "redis://127.0.0.1:1", prefix: "tg-config-test")
        for (arguments, environment, names, takes) in Self.cases {
            let run = "\(environment.map { "\($0)=\($1) " }.joined())tollgate \(arguments.joined(separator: " "))"
            let result = try await cli.run(arguments, environment: environment, timeout: .seconds(20))
            #expect(result.status == 64, "\(run) → \(result.status): \(result.errors)")
            let first = result.errors.split(separator: "\n").first.map(String.init) ?? ""
            #expect(first.hasPrefix("Error: "), "\(run): \(result.errors)")
            #expect(first.contains(names), "\(run): \(result.errors)")
            // What it takes is in the sentence, or (for a value ArgumentParser cannot parse) in the flag's help line.
            #expect(result.errors.contains(takes), "\(run): \(result.errors)")
            #expect(result.output.isEmpty, "\(run) printed \(result.output)")
        }
    }
}
