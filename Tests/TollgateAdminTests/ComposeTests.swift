import Foundation
import RedisTestSupport
import Testing
import Yams

/// `Compose/` is checked as far as it can be without Docker: its YAML parses, the files it
/// names exist, every `tollgate` flag its services use exists, and Prometheus scrapes the
/// ports the services listen on.
@Suite struct ComposeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let folder = root.appendingPathComponent("Compose")

    static func yaml(_ name: String) throws -> [String: Any] {
        let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any], "\(name) is not a YAML mapping")
    }

    static func services() throws -> [String: [String: Any]] {
        let services = try #require(try yaml("compose.yaml")["services"] as? [String: Any], "compose.yaml has no services")
        return services.compactMapValues { $0 as? [String: Any] }
    }

    /// The words of a service's command if it runs the `tollgate` image (it is built here).
    static func tollgateCommand(_ service: [String: Any]) -> [String]? {
        guard service["build"] != nil else { return nil }
        if let words = service["command"] as? [Any] { return words.map { "\($0)" } }
        if let line = service["command"] as? String { return line.split(separator: " ").map(String.init) }
        return nil
    }

    /// The value given to `flag` (`--flag value` or `--flag=value`).
    static func value(of flag: String, in words: [String]) -> String? {
        for (index, word) in words.enumerated() {
            if word.hasPrefix(flag + "=") { return String(word.dropFirst(flag.count + 1)) }
            if word == flag, index + 1 < words.count { return words[index + 1] }
        }
        return nil
    }

    /// The port a `serve` or `monitor` command listens on.
    static func listeningPort(_ words: [String]) -> Int? {
        if words.first == "serve" { return Int(value(of: "--port", in: words) ?? "8080") }
        if words.first == "monitor" { return Int(value(of: "--metrics-port", in: words) ?? "0") }
        return nil
    }

    static func exists(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.path) }

    @Test func composeAndPrometheusFilesParse() throws {
        #expect(try Self.services().count >= 10)
        let jobs = try #require(try Self.yaml("prometheus.yml")["scrape_configs"] as? [Any])
        #expect(!jobs.isEmpty)
    }

    @Test func everyReferencedFileExists() throws {
        var dockerfiles: [(context: URL, file: URL)] = []
        for (name, service) in try Self.services() {
            if let build = service["build"] as? [String: Any] {
                let context = Self.folder.appendingPathComponent(build["context"] as? String ?? ".").standardized
                let file = context.appendingPathComponent(build["dockerfile"] as? String ?? "Dockerfile").standardized
                #expect(Self.exists(context), "\(name): build context \(context.path) is missing")
                #expect(Self.exists(file), "\(name): \(file.path) is missing")
                dockerfiles.append((context, file))
            } else if let context = service["build"] as? String {
                #expect(Self.exists(Self.folder.appendingPathComponent(context)), "\(name): build context \(context) is missing")
            }
            for case let volume as String in service["volumes"] as? [Any] ?? [] {
                let source = String(volume.prefix { $0 != ":" })
                guard source.hasPrefix(".") || source.hasPrefix("/") else { continue }  // a named volume
                let url = source.hasPrefix("/") ? URL(fileURLWithPath: source) : Self.folder.appendingPathComponent(source)
                #expect(Self.exists(url), "\(name): mounted \(source) is missing")
            }
        }
        let (context, file) = try #require(dockerfiles.first, "no service builds the tollgate image")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for line in lines where line.hasPrefix("COPY ") && !line.contains("--from=") {
            let words = line.split(separator: " ").dropFirst().map(String.init).filter { !$0.hasPrefix("--") }
            for source in words.dropLast() {
                #expect(Self.exists(context.appendingPathComponent(source)), "Dockerfile copies \(source), which is missing")
            }
        }
    }

    @Test func everyTollgateFlagInACommandExists() async throws {
        let executable = try ChildProcess.executable("tollgate")
        var help: [String: String] = [:]
        var checked = 0
        for (name, service) in try Self.services() {
            guard let words = Self.tollgateCommand(service), let subcommand = words.first else { continue }
            if help[subcommand] == nil {
                let process = try ChildProcess(executable, [subcommand, "--help"])
                let status = await process.wait()
                #expect(status == 0, "tollgate \(subcommand) --help exited with \(status)")
                help[subcommand] = process.output
            }
            let text = help[subcommand] ?? ""
            #expect(text.contains("USAGE: tollgate \(subcommand)"), "\(name): tollgate has no subcommand '\(subcommand)'")
            for word in words where word.hasPrefix("--") {
                let flag = String(word.prefix { $0 != "=" })
                #expect(text.contains(" \(flag) ") || text.contains(" \(flag)\n"), "\(name): tollgate \(subcommand) has no \(flag)")
                checked += 1
            }
        }
        #expect(checked > 0, "no service runs a tollgate command")
    }

    @Test func prometheusScrapesThePortsTheServicesListenOn() throws {
        let services = try Self.services()
        let jobs = try #require(try Self.yaml("prometheus.yml")["scrape_configs"] as? [[String: Any]])
        var targets = 0
        for job in jobs {
            for group in job["static_configs"] as? [[String: Any]] ?? [] {
                for case let target as String in group["targets"] as? [Any] ?? [] {
                    let host = String(target.prefix { $0 != ":" })
                    let scraped = Int(target.dropFirst(host.count + 1))
                    let service = try #require(services[host], "\(target): no service \(host) in compose.yaml")
                    let words = try #require(Self.tollgateCommand(service), "\(target): \(host) does not run tollgate")
                    let port = try #require(Self.listeningPort(words), "\(target): \(host) runs neither serve nor monitor")
                    #expect(scraped == port, "\(target): \(host) listens on \(port)")
                    targets += 1
                }
            }
        }
        #expect(targets >= 4, "the gateways and the monitor are scraped")
    }
}
