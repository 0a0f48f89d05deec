import Foundation
import TollgateRedis

/// The Lua behind every decision, loaded from the package's resources. `reserve`, `settle`,
/// `release`, `quota` and `adjust` are functions of one Redis function library (run with
/// `FCALL`): the contract's prelude, `common.lua` once, then each script's body as a function,
/// with the contract's names expanded (``ScriptContract/expand(_:)``). The library is named by
/// the hash of its code, so gateways of two versions never replace each other's functions.
/// `reserve` and `settle` also have a batch form, which runs several requests of one partition
/// in one call (``QuotaEngine``'s coalescer; `run_batch` in common.lua).
public struct QuotaScripts: Sendable {
    public let reserve: RedisScript
    public let settle: RedisScript
    public let release: RedisScript
    public let quota: RedisScript
    public let adjust: RedisScript
    /// The batch forms of `reserve` and `settle` (nil for a library without them: an earlier
    /// version's, in tests).
    public let reserveBatch: RedisScript?
    public let settleBatch: RedisScript?
    /// Standalone (no prelude): the monitor's roll-up of ledger entries.
    public let rollup: RedisScript

    public static let shared: Result<QuotaScripts, ScriptLoadingError> = Result { () throws(ScriptLoadingError) in try load() }

    public struct ScriptLoadingError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    static let functions = ["reserve", "settle", "release", "quota", "adjust"]
    static let batched: Set<String> = ["reserve", "settle"]

    /// The library built from the package's scripts, or from `source` (the text of a script by
    /// name: tests load an earlier version's scripts with it).
    public static func load(source: (String) throws(ScriptLoadingError) -> String = source) throws(ScriptLoadingError) -> QuotaScripts {
        // The scripts' helpers read KEYS and ARGV: each function sets them on entry (a batch
        // sets them per request).
        let common = try source("common")
        let batches = common.contains("local function run_batch(")
        var code = ScriptContract.luaPrelude + "local KEYS, ARGV\n" + ScriptContract.expand(common) + "\n"
        for name in functions {
            code += "local function \(name)_body()\n" + ScriptContract.expand(try source(name)) + "\nend\n"
                + "redis.register_function('tg_\(name)_@@', function(keys, args)\nKEYS, ARGV = keys, args\n"
                // A batch that Redis stopped halfway (FUNCTION KILL) left its state behind: a single call is never part of one.
                + (batches ? "batch = nil\n" : "") + "return \(name)_body()\nend)\n"
            if batches && batched.contains(name) {
                code += "redis.register_function('tg_\(name)_batch_@@', function(keys, args) return run_batch(\(name)_body, keys, args) end)\n"
            }
        }
        let hash = String(RedisScript(name: "library", source: code).sha1.prefix(12))
        let library = "#!lua name=tollgate_\(hash)\n" + code.replacingOccurrences(of: "_@@'", with: "_\(hash)'")
        func function(_ name: String) -> RedisScript { RedisScript(name: name, library: library, function: "tg_\(name)_\(hash)") }
        return QuotaScripts(reserve: function("reserve"), settle: function("settle"), release: function("release"), quota: function("quota"),
                            adjust: function("adjust"), reserveBatch: batches ? function("reserve_batch") : nil,
                            settleBatch: batches ? function("settle_batch") : nil, rollup: RedisScript(name: "rollup", source: try source("rollup")))
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
