import ArgumentParser
import Foundation
import Logging
import TollgateCore
import TollgateRedis

/// A connection to the deployment for one command: Redis, the configuration store, and
/// the output. Every command runs inside ``AdminContext/run(_:_:)``, which turns errors
/// into one sentence on stderr and a documented exit code.
struct AdminContext {
    let options: AdminOptions
    let redis: any RedisExecutor
    let store: ConfigurationStore
    var output: Output

    var keys: KeyLayout { store.keys }

    static func run(_ options: AdminOptions, _ body: (inout AdminContext) async throws -> Void) async throws {
        var logger = Logger(label: "tollgate.cli")
        logger.logLevel = .critical
        var configuration: RedisConfiguration
        let target: RedisConnector.Target
        do {
            target = try RedisConnector.parse(options.redis)
            configuration = target.configuration
        } catch {
            throw ValidationError(error.message)
        }
        configuration.commandTimeout = .seconds(5)
        configuration.connectTimeout = .seconds(2)
        configuration.clientName = "tollgate-cli"
        let redis = RedisConnector.executor(target, configuration: configuration, logger: logger)
        var context = AdminContext(options: options, redis: redis, store: ConfigurationStore(redis: redis, keys: KeyLayout(prefix: options.prefix)),
                                   output: Output(format: options.format))
        defer { context.output.flush() }
        do {
            do {
                try await body(&context)
            } catch let error as EngineError {
                // Redis failures inside the engine are reported like any Redis failure.
                if let redisError = error.redis { throw redisError }
                throw error
            }
            await redis.shutdown()
        } catch let refusal as ChangeRefusal {
            await redis.shutdown()
            context.output.flush()
            FileHandle.standardError.write(Data("error: \(refusal.message)\n".utf8))
            throw refusal.code == .invalid ? AdminExit.invalid : AdminExit.refused
        } catch let error as AdminError {
            await redis.shutdown()
            context.output.flush()
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw error.exit
        } catch let error as EngineError where error.redis == nil {
            await redis.shutdown()
            context.output.flush()
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw AdminExit.failure
        } catch let error as RedisError {
            await redis.shutdown()
            context.output.flush()
            let reason = switch error.availability {
            case .unreachable: "Redis at \(configuration.endpoint) is not reachable: "
            case .temporarilyUnavailable: "Redis at \(configuration.endpoint) cannot serve commands right now: "
            case .refused, .rejected: ""
            }
            FileHandle.standardError.write(Data("error: \(reason)\(error.message)\n".utf8))
            throw error.isUnavailable ? AdminExit.unavailable : AdminExit.failure
        } catch let error as CustomerStoreError {
            await redis.shutdown()
            context.output.flush()
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw error.code == .invalid ? AdminExit.invalid : AdminExit.refused
        } catch let error as ConfigurationStore.StoreError {
            await redis.shutdown()
            context.output.flush()
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw AdminExit.refused
        }
    }

    /// The configuration now.
    func load() async throws -> ConfigurationStore.Versioned { try await store.load() }

    /// The customer store (opening it migrates a deployment from before it, once).
    func customers() async throws -> CustomerStore {
        try await CustomerStore.open(redis: redis, keys: keys)
    }

    /// The configuration with one organisation's customers in it (none if it does not exist),
    /// so that what takes an organisation id answers for it.
    func load(including organization: String) async throws -> TollgateConfiguration {
        let configuration = try await load().configuration
        guard let tree = try await customers().tree(of: organization) else { return configuration }
        return configuration.including(tree)
    }

    /// Tells stderr what a customer change did.
    func announce(_ action: String) {
        FileHandle.standardError.write(Data("customers: \(action)\n".utf8))
    }

    /// Runs an update and announces it.
    func announcing<Value>(_ action: String, _ body: () async throws -> Value) async throws -> Value {
        let value = try await body()
        announce(action)
        return value
    }

    /// One audited, all-or-nothing change.
    @discardableResult
    func change(_ action: String, reason: String = "", _ edit: (inout TollgateConfiguration) throws -> (old: String, new: String)?) async throws -> Int64 {
        try await change(action, reason: reason) { configuration throws -> AuditValues? in
            try edit(&configuration).map { AuditValues(old: $0.old, new: $0.new) }
        }
    }

    /// One audited, all-or-nothing change made by one of the edits TollgateCore shares with the admin API.
    @discardableResult
    func change(_ action: String, reason: String = "", _ edit: (inout TollgateConfiguration) throws -> AuditValues?) async throws -> Int64 {
        let (version, changed) = try await store.change(actor: options.actor, action: action, reason: reason, edit)
        if changed { FileHandle.standardError.write(Data("configuration version \(version): \(action)\n".utf8)) }
        return version
    }

    /// Redis' clock, ms since 1970.
    func now() async throws -> Int64 { try await store.versionAndTime().redisTime }
}

/// Compact JSON of a value for the audit log (old → new).
func auditJSON(_ value: some Encodable) -> String { AuditValues.json(value) }
