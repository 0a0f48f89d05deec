import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// `tollgate acl`: least-privilege Redis users for the roles, as `ACL SETUSER` lines.
///
/// - admin: the CLI — every data command on this deployment's keys (no server-wide
///   dangerous commands such as FLUSHALL, CONFIG, SHUTDOWN).
/// - gateway: runs the decision scripts on partition keys and only reads the
///   configuration: a leaked gateway credential cannot change prices, tiers or customers.
/// - monitor: reads and acknowledges the ledger, writes roll-ups, expires holds; reads
///   the configuration; publishes alerts.
/// - dashboard (with --dashboard-password): reads only — roll-ups, live counters (through
///   the read-only quota script), the configuration — and listens to the events channel.
public struct ACLCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "acl", abstract: "Print ACL SETUSER commands for least-privilege admin, gateway, monitor and (optionally) dashboard Redis users.",
        discussion: "Apply them with redis-cli (e.g. `tollgate acl ... | redis-cli`), or with --apply. Scripts run with the caller's permissions, so the commands inside Tollgate's Lua scripts are listed too.")

    @OptionGroup var options: AdminOptions
    @Option(help: "Password of the admin user.") var adminPassword: String
    @Option(help: "Password of the gateway user.") var gatewayPassword: String
    @Option(help: "Password of the monitor user.") var monitorPassword: String
    @Option(help: "Password of the read-only dashboard user (the user is left out without it).") var dashboardPassword: String?
    @Option(help: "User name prefix.") var userPrefix = "tollgate"
    @Flag(help: "Run the commands on --redis instead of printing them.") var apply = false

    public init() {}

    public func validate() throws {
        for password in [adminPassword, gatewayPassword, monitorPassword] + (dashboardPassword.map { [$0] } ?? []) where password.count < 12 || password.contains(" ") {
            throw ValidationError("passwords must be at least 12 characters, without spaces")
        }
    }

    public static func rules(prefix: String, userPrefix: String, admin: String, gateway: String, monitor: String, dashboard: String? = nil) -> [[String]] {
        let partitions = "\(prefix):{p*}:*"
        let configuration = "\(prefix):{cfg}:*"
        // Cluster clients read the slot map and follow ASK redirections.
        let scripting = ["+evalsha", "+script|load", "+fcall", "+function|load", "+time", "+ping", "+info", "+client|setname", "+client|getname",
                         "+cluster|shards", "+cluster|slots", "+asking"]
        let scriptCommands = ["+get", "+set", "+hget", "+hmget", "+hset", "+hdel", "+hscan", "+pexpire", "+pexpireat", "+zadd", "+zrem", "+xadd"]
        // Customer records: look-ups (a read-only script), the change stream, preloading.
        let customerReads = ["+evalsha_ro", "+xrange", "+xrevrange", "+zrange", "+zcard", "+mget", "+subscribe"]
        // Read-only by its commands: no write command is granted, and scripts run with the
        // caller's permissions, so a script it runs cannot write either. (Its key pattern is
        // not %R~: Redis checks EVALSHA's keys as read-write.)
        let dashboardRule = dashboard.map { password in
            ["ACL", "SETUSER", "\(userPrefix)-dashboard", "reset", "on", ">\(password)", "~\(prefix):*", "&\(prefix):config", "&\(prefix):events",
             "&\(prefix):customers", "+get", "+hget", "+hgetall", "+hmget", "+exists", "+zrevrange", "+zunion", "+lrange"] + scripting + customerReads
        }
        return [
            ["ACL", "SETUSER", "\(userPrefix)-admin", "reset", "on", ">\(admin)", "~\(prefix):*", "&\(prefix):*", "+@all", "-@dangerous", "+info"],
            ["ACL", "SETUSER", "\(userPrefix)-gateway", "reset", "on", ">\(gateway)", "%RW~\(partitions)", "%R~\(configuration)",
             "&\(prefix):config", "&\(prefix):events", "&\(prefix):customers", "+publish", "+hincrby", "+expire"] + scripting + scriptCommands + customerReads,
            ["ACL", "SETUSER", "\(userPrefix)-monitor", "reset", "on", ">\(monitor)", "%RW~\(partitions)", "%R~\(configuration)",
             "&\(prefix):config", "&\(prefix):events", "&\(prefix):alerts", "&\(prefix):customers", "+publish", "+xreadgroup", "+xack", "+xautoclaim",
             "+xgroup", "+xinfo", "+xtrim", "+xrange", "+xlen", "+xpending", "+zrangebyscore", "+zcard", "+hincrby", "+hgetall", "+expire",
             "+exists", "+setnx", "+del", "+scan", "+hdel", "+unlink", "+incrby", "+zincrby", "+lpush", "+ltrim", "+zremrangebyscore"] + scripting + scriptCommands
                + customerReads.filter { $0 != "+xrange" },
        ] + (dashboardRule.map { [$0] } ?? [])
    }

    public func run() async throws {
        let lines = Self.rules(prefix: options.prefix, userPrefix: userPrefix, admin: adminPassword, gateway: gatewayPassword, monitor: monitorPassword,
                              dashboard: dashboardPassword)
        guard apply else {
            for line in lines { print(line.joined(separator: " ")) }
            return
        }
        try await AdminContext.run(options) { context in
            for line in lines { _ = try await context.redis.send(RedisCommand(line[0], Array(line.dropFirst()))) }
            context.output.line("created or updated \(lines.count) users: \(lines.map { $0[2] }.joined(separator: ", "))")
        }
    }
}
