import Foundation
import TollgateRedis

/// The Lua scripts behind every decision, loaded from the package's resources. Each script
/// is the contract's generated constants (``ScriptContract/luaHeader(for:)``), `common.lua`,
/// then its own body (Lua in Redis has no modules).
public struct QuotaScripts: Sendable {
    public let reserve: RedisScript
    public let settle: RedisScript
    public let release: RedisScript
    public let quota: RedisScript
    public let adjust: RedisScript
    /// Standalone (no prelude): the monitor's roll-up of ledger entries.
    public let rollup: RedisScript

    public static let shared: Result<QuotaScripts, ScriptLoadingError> = Result { () throws(ScriptLoadingError) in try load() }

    public struct ScriptLoadingError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public static func load() throws(ScriptLoadingError) -> QuotaScripts {
        let prelude = try source("common")
        func script(_ name: String) throws(ScriptLoadingError) -> RedisScript {
            RedisScript(name: name, source: ScriptContract.luaHeader(for: name) + prelude + "\n" + (try source(name)))
        }
        return QuotaScripts(reserve: try script("reserve"), settle: try script("settle"), release: try script("release"), quota: try script("quota"),
                            adjust: try script("adjust"), rollup: RedisScript(name: "rollup", source: try source("rollup")))
    }

    /// The text of `Resources/Scripts/<name>.lua`.
    public static func source(_ name: String) throws(ScriptLoadingError) -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: "lua", subdirectory: "Resources/Scripts")
                ?? Bundle.module.url(forResource: name, withExtension: "lua", subdirectory: "Scripts"),
              let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw ScriptLoadingError(description: "the Lua script \(name).lua is missing from the TollgateCore resource bundle (install the tollgate_TollgateCore.resources folder next to the binary)")
        }
        return text
    }
}
