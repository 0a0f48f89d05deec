import ArgumentParser
import Foundation
import TollgateCore
import TollgateRedis

/// What `config import` reads, in either form:
///
/// - a YAML or JSON document with its customers in it (held in memory, as it always was);
/// - the streamed form `config export --stream` writes: the JSON document without customers,
///   then one customer a line (`{"organization":{…}}`, then workspaces, keys and tokens, each
///   kind's ids ascending), read one line at a time.
///
/// The import goes in three steps, so memory stays bounded by a batch for the streamed form:
/// ``check(against:)`` reads everything and writes nothing (problems, and which stored customers
/// the file does not have, listed in a temporary file); ``write(...)`` stores the document,
/// removes the tokens listed, stores the customers in batches, then removes the rest listed.
struct ConfigurationImport {
    let path: String
    /// Settings, prices, tiers, dashboard and admin tokens: no customers.
    let header: TollgateConfiguration
    /// The customers of a document form (nil for the streamed form: they are in the lines).
    private let document: TollgateConfiguration?

    /// Kinds in the order a file lists them (parents first).
    static let order: [CustomerKind] = [.organization, .workspace, .key, .token]

    init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else { throw AdminError.invalid("cannot read '\(path)'") }
        let start = try handle.read(upToCount: 4096) ?? Data()
        try? handle.close()
        guard start.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{") else {
            // YAML: a document, decoded whole.
            let configuration = try ConfigCommand.decode(path)
            header = configuration.withoutCustomers
            document = configuration
            return
        }
        var reader = try JSONValueReader(path: path)
        let configuration: TollgateConfiguration
        do {
            guard let first = try reader.next() else { throw AdminError.invalid("'\(path)' is empty") }
            configuration = try TollgateConfiguration.decodeJSON(Data(first.bytes))
            if configuration.carriesCustomers, let next = try reader.next() {
                throw AdminError.invalid("'\(path)' line \(next.line): a document that lists its customers cannot be followed by customer lines")
            }
        } catch let error as DecodingError {
            throw AdminError.invalid("'\(path)' is not a valid configuration: \(ConfigCommand.describe(error))")
        } catch let error as JSONValueReader.Malformed {
            throw AdminError.invalid("'\(path)' line \(error.line): \(error.message)")
        }
        header = configuration.withoutCustomers
        document = configuration.carriesCustomers ? configuration : nil
    }

    /// Calls `body` with every customer in file order and the line it is on (0 in a document form).
    func forEachCustomer(_ body: (CustomerEntity, Int) async throws -> Void) async throws {
        if let document {
            for organization in document.organizations.values.sorted(by: { $0.id < $1.id }) { try await body(.organization(organization), 0) }
            for workspace in document.workspaces.values.sorted(by: { $0.id < $1.id }) { try await body(.workspace(workspace), 0) }
            for key in document.keys.values.sorted(by: { $0.id < $1.id }) { try await body(.key(key), 0) }
            for token in document.tokens.values.sorted(by: { $0.id < $1.id }) { try await body(.token(token), 0) }
            return
        }
        var reader = try JSONValueReader(path: path)
        let decoder = JSONDecoder()
        decoder.userInfo[.tollgateCurrency] = header.settings.currency
        var line = 0
        do {
            _ = try reader.next()
            while let value = try reader.next() {
                line = value.line
                try await body(try decoder.decode(CustomerEntity.self, from: Data(value.bytes)), line)
            }
        } catch let error as DecodingError {
            throw AdminError.invalid("'\(path)' line \(line): not a customer: \(ConfigCommand.describe(error))")
        } catch let error as JSONValueReader.Malformed {
            throw AdminError.invalid("'\(path)' line \(error.line): \(error.message)")
        }
    }

    // MARK: Checking

    /// What the file holds and what importing it would remove.
    struct Plan {
        var customers: [CustomerKind: Int] = [:]
        var removals: [CustomerKind: Int] = [:]
        /// Stored customers the file does not have, one `<kind> <id>` a line.
        var removalFile: String

        var summary: String {
            ConfigurationImport.order.map { "\(customers[$0] ?? 0) \($0.noun)s" }.joined(separator: ", ")
        }
    }

    /// Reads the whole file and checks it: the document's problems, every customer's (its
    /// tier, its parent earlier in the file), and the order (kinds parents first, each kind's
    /// ids ascending, no id twice). Walks the stored ids alongside (both are in id order), noting
    /// the stored customers the file does not have. Writes nothing to Redis. Throws one
    /// ``AdminError`` listing the problems (at most 20). Without a store (`config check`,
    /// offline) nothing is to be removed.
    func check(against store: CustomerStore?) async throws -> Plan {
        let removalFile = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-import-\(getpid())-removals").path
        guard FileManager.default.createFile(atPath: removalFile, contents: nil), let removals = FileHandle(forWritingAtPath: removalFile) else {
            throw AdminError("cannot write the temporary file '\(removalFile)'", exit: AdminExit.failure)
        }
        defer { try? removals.close() }
        var plan = Plan(removalFile: removalFile)
        var problems = header.problems
        var pendingRemovals: [UInt8] = []
        func remove(_ kind: CustomerKind, _ id: String) throws {
            plan.removals[kind, default: 0] += 1
            pendingRemovals += Array("\(kind.rawValue) \(id)\n".utf8)
            if pendingRemovals.count >= 1 << 16 {
                try removals.write(contentsOf: pendingRemovals)
                pendingRemovals.removeAll(keepingCapacity: true)
            }
        }
        // Parents are remembered by their ids' hashes (bounded memory per customer); a
        // collision could let a missing parent pass here, and the store refuses that write.
        var organizationHashes = Set<Int>()
        var workspaceHashes = Set<Int>()
        var stored = StoredIDs(store: store)
        var kindIndex = 0
        var lastID: String?
        let limit = 20
        try await forEachCustomer { entity, line in
            let at = line > 0 ? "line \(line): " : ""
            guard let index = Self.order.firstIndex(of: entity.kind) else { return }
            if index < kindIndex || (index == kindIndex && lastID.map { entity.id <= $0 } ?? false) {
                problems.append(at + "\(entity.kind.noun) \(entity.id) is out of order: organizations, workspaces, keys, then tokens, each kind's ids ascending and each once (as config export --stream writes them)")
            }
            while kindIndex < index {
                try await stored.drain(Self.order[kindIndex], remove)
                kindIndex += 1
                lastID = nil
            }
            if index == kindIndex && lastID.map({ entity.id > $0 }) ?? true {
                try await stored.advance(entity.kind, past: entity.id, remove)
                lastID = entity.id
            }
            plan.customers[entity.kind, default: 0] += 1
            let found: [String]
            switch entity {
            case .organization(let organization):
                organizationHashes.insert(organization.id.hashValue)
                found = header.problems(of: organization)
            case .workspace(let workspace):
                workspaceHashes.insert(workspace.id.hashValue)
                found = header.problems(of: workspace, organizationExists: organizationHashes.contains(workspace.organization.hashValue))
            case .key(let key):
                found = header.problems(of: key, workspaceExists: workspaceHashes.contains(key.workspace.hashValue))
            case .token(let token):
                found = header.problems(of: token) { organizationHashes.contains($0.hashValue) }
            }
            problems += found.map { at + $0 }
            if problems.count >= limit { throw AdminError.invalid(Self.describe(problems, limit: limit)) }
        }
        while kindIndex < Self.order.count {
            try await stored.drain(Self.order[kindIndex], remove)
            kindIndex += 1
        }
        for token in header.dashboardTokens.values.sorted(by: { $0.id < $1.id }) {
            if let organization = token.organization, token.scope == .customer, !organizationHashes.contains(organization.hashValue) {
                problems.append("dashboard token \(token.id): unknown organization '\(organization)'")
            }
        }
        guard problems.isEmpty else { throw AdminError.invalid(Self.describe(problems, limit: limit)) }
        try removals.write(contentsOf: pendingRemovals)
        return plan
    }

    static func describe(_ problems: [String], limit: Int) -> String {
        problems.prefix(limit).joined(separator: "; ") + (problems.count >= limit ? "; (stopped after \(limit) problems)" : "")
    }

    /// The stored ids of each kind, read a page at a time in id order.
    struct StoredIDs {
        let store: CustomerStore?
        var page: [String] = []
        var position = 0
        var kind: CustomerKind?
        var after: String?
        var exhausted = false

        init(store: CustomerStore?) { self.store = store }

        /// Reports (to `remove`) the stored ids of `kind` before `id`, and steps past `id` itself.
        mutating func advance(_ kind: CustomerKind, past id: String, _ remove: (CustomerKind, String) throws -> Void) async throws {
            while let head = try await head(kind), head <= id {
                if head < id { try remove(kind, head) }
                position += 1
            }
        }

        /// Reports every stored id of `kind` not stepped past yet.
        mutating func drain(_ kind: CustomerKind, _ remove: (CustomerKind, String) throws -> Void) async throws {
            while let head = try await head(kind) {
                try remove(kind, head)
                position += 1
            }
        }

        mutating func head(_ kind: CustomerKind) async throws -> String? {
            if self.kind != kind {
                self = StoredIDs(store: store)
                self.kind = kind
            }
            if position == page.count {
                guard !exhausted, let store else { return nil }
                page = try await store.ids(of: kind, after: after, limit: CustomerStore.maximumPageSize)
                position = 0
                after = page.last
                exhausted = page.count < CustomerStore.maximumPageSize
                if page.isEmpty { return nil }
            }
            return page[position]
        }
    }

    // MARK: Writing

    /// Stores the document (one audit entry), then the customers in batches guarded by its
    /// version, then removes the stored customers the file does not have (one audit entry for
    /// them all). On failure, throws an ``AdminError`` saying what was written: every batch
    /// written is complete, and running the same import again finishes it.
    func write(_ plan: Plan, store: CustomerStore, configurations: ConfigurationStore, actor: String, reason: String) async throws {
        let action = "config import \(URL(fileURLWithPath: path).lastPathComponent)"
        let counts = "{" + Self.order.map { "\"\($0.noun)s\":\(plan.customers[$0] ?? 0)" }.joined(separator: ",") + "}"
        var version: Int64?
        for _ in 0..<20 where version == nil {
            let loaded = try await configurations.load()
            try Self.checkPartitions(from: loaded.configuration, to: header, organizations: try await store.count(.organization))
            version = try await configurations.replace(version: loaded.version, with: header, ConfigurationStore.Change(
                actor: actor, action: action, reason: reason, oldValue: "{\"version_replaced\":\(loaded.version)}", newValue: counts),
                replacingCustomers: true)
        }
        guard let version else { throw AdminError("the configuration kept changing while it was imported; try again") }
        FileHandle.standardError.write(Data("configuration version \(version): \(action)\n".utf8))
        var writer = CustomerStore.BatchWriter(store: store, version: version)
        do {
            // Tokens the file lacks go first: one of them may hold the hash a token in the file
            // takes under another id. The rest go after the puts, so that an organisation or
            // workspace going away never takes with it (for a moment) a child the file moves.
            try await discard(plan, only: [.token], with: &writer)
            try await forEachCustomer { entity, _ in try await writer.put(entity) }
            try await discard(plan, only: [.organization, .workspace, .key], with: &writer)
            let removed = "{" + Self.order.map { "\"\($0.noun)s\":\(plan.removals[$0] ?? 0)" }.joined(separator: ",") + "}"
            try await writer.finish(actor: actor, action: action + " (customers)", reason: reason, new: "{\"stored\":\(counts),\"removed\":\(removed)}")
        } catch {
            throw Self.stopped(error, version: version, written: writer.written, plan: plan)
        }
    }

    /// Discards the stored customers of `kinds` that the plan's removal file lists.
    func discard(_ plan: Plan, only kinds: Set<CustomerKind>, with writer: inout CustomerStore.BatchWriter) async throws {
        var removals = try LineReader(path: plan.removalFile)
        while let line = try removals.next() {
            guard let space = line.firstIndex(of: " "), let kind = CustomerKind(rawValue: String(line[..<space])), kinds.contains(kind) else { continue }
            try await writer.discard(kind, String(line[line.index(after: space)...]))
        }
        try await writer.flush()
    }

    static func checkPartitions(from stored: TollgateConfiguration, to imported: TollgateConfiguration, organizations: Int) throws {
        if stored.settings.partitions != imported.settings.partitions && organizations > 0 {
            throw AdminError("settings.partitions cannot change once organizations exist (their state lives in its partitions)")
        }
    }

    static func stopped(_ error: any Error, version: Int64, written: CustomerStore.BatchWriter.Counts, plan: Plan) -> AdminError {
        let (cause, exit): (String, ExitCode) = switch error {
        case let error as RedisError: (error.message, error.isUnavailable ? AdminExit.unavailable : AdminExit.failure)
        case let error as CustomerStoreError: (error.message, AdminExit.refused)
        case let error as AdminError: (error.description, error.exit)
        default: ("\(error)", AdminExit.failure)
        }
        let stored = order.map { "\(written.stored[$0] ?? 0) of \(plan.customers[$0] ?? 0) \($0.noun)s" }.joined(separator: ", ")
        let removed = order.map { "\(written.removed[$0] ?? 0) of \(plan.removals[$0] ?? 0) \($0.noun)s" }.joined(separator: ", ")
        return AdminError("config import stopped: \(cause). Written: the settings, prices and tiers (configuration version \(version)); "
                          + "customers stored: \(stored); removed: \(removed). Each customer written is complete; "
                          + "run the same import again to finish it (it stores the same records again and removes the rest)", exit: exit)
    }
}

/// The lines of a text file, read in 64 KiB chunks.
struct LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0

    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw AdminError("cannot read '\(path)'", exit: AdminExit.failure) }
        self.handle = handle
    }

    mutating func next() throws -> String? {
        while true {
            if let newline = buffer[position...].firstIndex(of: 0x0A) {
                defer { position = newline + 1 }
                return String(decoding: buffer[position..<newline], as: UTF8.self)
            }
            let chunk = try handle.read(upToCount: 1 << 16) ?? Data()
            if chunk.isEmpty {
                guard position < buffer.count else { return nil }
                defer { position = buffer.count }
                return String(decoding: buffer[position...], as: UTF8.self)
            }
            buffer = Array(buffer[position...]) + chunk
            position = 0
        }
    }
}
