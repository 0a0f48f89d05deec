import Foundation
import TollgateRedis

/// The shared configuration in Redis: one JSON document and its version, changed only by a
/// script that checks the version it was read at, appends an audit entry and publishes a
/// notice — all in one atomic step.
public struct ConfigurationStore: Sendable {
    public let redis: any RedisExecutor
    public let keys: KeyLayout
    static let writeScript: Result<RedisScript, QuotaScripts.ScriptLoadingError> = Result { () throws(QuotaScripts.ScriptLoadingError) in
        RedisScript(name: "config-write", source: try QuotaScripts.source("config-write"))
    }

    public init(redis: any RedisExecutor, keys: KeyLayout) {
        self.redis = redis
        self.keys = keys
    }

    /// A configuration with the version it was read at.
    public struct Versioned: Sendable {
        public var configuration: TollgateConfiguration
        public var version: Int64
    }

    public struct StoreError: Error, Sendable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The current version, and Redis' clock (ms since 1970), in one round trip.
    public func versionAndTime() async throws -> (version: Int64, redisTime: Int64) {
        let results = await redis.pipeline([RedisCommand.keyed("GET", keys.configurationVersion), RedisCommand("TIME")])
        let version = try results[0].get().int ?? 0
        guard let time = try results[1].get().array, time.count == 2, let seconds = time[0].int, let micros = time[1].int else {
            throw StoreError("TIME returned an unexpected reply")
        }
        return (version, seconds * 1_000 + micros / 1_000)
    }

    /// The stored configuration; an empty one at version 0 when none was ever written.
    public func load() async throws -> Versioned {
        let results = await redis.pipeline([RedisCommand.keyed("GET", keys.configurationVersion), RedisCommand.keyed("GET", keys.configurationDocument)])
        // Read as one pipeline on one connection; a write between the two is caught by the
        // version check of the next update, and readers poll the version again anyway.
        let version = try results[0].get().int ?? 0
        guard let bytes = try results[1].get().bytes else { return Versioned(configuration: TollgateConfiguration(), version: version) }
        do {
            return Versioned(configuration: try TollgateConfiguration.decodeJSON(Data(bytes)), version: version)
        } catch {
            throw StoreError("the stored configuration (version \(version)) cannot be read: \(error)")
        }
    }

    /// One audited change.
    public struct Change: Sendable {
        public var actor: String
        public var action: String
        public var reason: String
        public var oldValue: String
        public var newValue: String

        public init(actor: String, action: String, reason: String = "", oldValue: String = "", newValue: String = "") {
            self.actor = actor
            self.action = action
            self.reason = reason
            self.oldValue = oldValue
            self.newValue = newValue
        }
    }

    /// Applies `edit` to the current configuration and stores the result if it is valid,
    /// retrying on a concurrent change: two admins editing at once never lose an update.
    /// `edit` returns the audit record of what it changed, or nil to write nothing.
    @discardableResult
    public func update(maximumAttempts: Int = 20, _ edit: (inout TollgateConfiguration) throws -> Change?) async throws -> (version: Int64, changed: Bool) {
        for _ in 0..<maximumAttempts {
            let current = try await load()
            var configuration = current.configuration
            guard let change = try edit(&configuration) else { return (current.version, false) }
            let problems = configuration.problems
            guard problems.isEmpty else { throw StoreError(problems.joined(separator: "; ")) }
            if let version = try await replace(version: current.version, with: configuration, change) { return (version, true) }
        }
        throw StoreError("the configuration kept changing under this update; try again")
    }

    /// Stores `configuration` if the stored one is still at `version`; the new version, or nil
    /// when it moved. Refuses to drop a tier customers still use, unless `replacingCustomers`
    /// (the caller replaces every stored customer next; by default, when the document carries
    /// its own customers).
    public func replace(version: Int64, with configuration: TollgateConfiguration, _ change: Change, replacingCustomers: Bool? = nil) async throws -> Int64? {
        let script = try Self.writeScript.get()
        let document = try configuration.encodeJSON()
        let arguments: [any RedisArgument] = [
            String(version), Array(document), keys.configurationChannel,
            change.actor, change.action, change.reason, change.oldValue, change.newValue, (replacingCustomers ?? configuration.carriesCustomers) ? "1" : "0",
        ] + configuration.tiers.keys.sorted()
        let reply = try await redis.run(script, keys: [keys.configurationDocument, keys.configurationVersion, keys.audit, keys.tierNames, keys.tierUse],
                                        arguments: arguments)
        guard let parts = reply.array, parts.count >= 2 else { throw StoreError("unexpected reply from config-write: \(reply)") }
        if parts[0].int == 1 { return parts[1].int ?? 0 }
        if parts[0].int == 2 { throw StoreError("tier '\(parts[1].string ?? "")' is still used by organizations or workspaces") }
        return nil
    }

    /// One audited change by `actor`: `edit` returns the old and new values it changed, or nil
    /// to write nothing. A refusal (any error `edit` throws) writes nothing.
    @discardableResult
    public func change(actor: String, action: String, reason: String = "",
                       _ edit: (inout TollgateConfiguration) throws -> AuditValues?) async throws -> (version: Int64, changed: Bool) {
        try await update { configuration in
            guard let values = try edit(&configuration) else { return nil }
            return Change(actor: actor, action: action, reason: reason, oldValue: values.old, newValue: values.new)
        }
    }
}
