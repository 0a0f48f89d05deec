import TollgateRedis

/// The audit stream (`<prefix>:{cfg}:audit`): configuration changes are appended by
/// config-write.lua, customer changes by customer-write.lua; this appends the rest (budget
/// corrections), with Redis' clock.
public enum AuditLog {
    public static func append(redis: any RedisExecutor, keys: KeyLayout, actor: String, action: String, reason: String, old: String, new: String) async throws {
        let time = try await ConfigurationStore(redis: redis, keys: keys).versionAndTime().redisTime
        _ = try await redis.send(.keyed("XADD", keys.audit, "*", "version", "", "at", time, "actor", actor, "action", action, "reason", reason,
                                        "old", old, "new", new))
    }
}
