import CHiredis
import Glibc

/// A non-blocking hiredis context. Not thread-safe: one ``ConnectionWorker`` thread owns it.
///
/// hiredis only formats commands and parses replies here; the worker decides when to read
/// and write, with `poll`, so that it can honour per-command deadlines and wake up when
/// new commands arrive.
final class HiredisContext {
    private let context: UnsafeMutablePointer<redisContext>

    /// Starts a non-blocking TCP connect; the caller waits for writability with
    /// ``waitUntilConnected(timeoutMilliseconds:)``.
    init(host: String, port: Int) throws(RedisError) {
        guard let context = redisConnectNonBlock(host, Int32(port)) else {
            throw RedisError(.notConnected, "could not allocate a hiredis context", delivery: .notSent)
        }
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            redisFree(context)
            throw RedisError(.notConnected, "connect to \(host):\(port) failed: \(message)", delivery: .notSent)
        }
        self.context = context
    }

    deinit { redisFree(context) }

    var fd: Int32 { context.pointee.fd }

    /// Waits for the non-blocking connect to finish and reports its socket error, if any.
    func waitUntilConnected(timeoutMilliseconds: Int32) -> String? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        if ready == 0 { return "connect timed out" }
        if ready < 0 { return "poll failed: \(String(cString: strerror(errno)))" }
        var socketError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length) != 0 {
            return String(cString: strerror(errno))
        }
        return socketError == 0 ? nil : String(cString: strerror(socketError))
    }

    /// TCP keepalive, so a peer that vanished without a FIN is noticed.
    func enableKeepAlive(idleSeconds: Int) {
        var on: Int32 = 1
        var idle = Int32(max(1, idleSeconds))
        var interval = Int32(max(1, idleSeconds / 3))
        var count: Int32 = 3
        let size = socklen_t(MemoryLayout<Int32>.size)
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, size)
    }

    /// Formats `command` into hiredis' output buffer (nothing is written yet).
    func append(_ command: RedisCommand) -> Bool {
        let count = command.lengths.count
        return command.storage.withUnsafeBufferPointer { storage in
            withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: count) { argv in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { lengths in
                    let base = UnsafeRawPointer(storage.baseAddress ?? UnsafePointer(bitPattern: 1)!)
                    var offset = 0
                    for index in 0..<count {
                        argv[index] = (base + offset).assumingMemoryBound(to: CChar.self)
                        lengths[index] = command.lengths[index]
                        offset += command.lengths[index]
                    }
                    return redisAppendCommandArgv(context, Int32(count), argv.baseAddress, lengths.baseAddress) == REDIS_OK
                }
            }
        }
    }

    /// Bytes formatted but not yet written to the socket.
    var pendingOutput: Int {
        guard let buffer = context.pointee.obuf else { return 0 }
        return sdslen(buffer)
    }

    /// Writes as much of the output buffer as the socket takes without blocking.
    /// Returns false on a write error.
    func flush() -> Bool {
        var done: Int32 = 0
        while true {
            let before = pendingOutput
            guard redisBufferWrite(context, &done) == REDIS_OK else { return false }
            // Done, or the socket is full (nothing went out): the worker polls for POLLOUT.
            if done != 0 || pendingOutput == before { return true }
        }
    }

    /// Reads what the socket has into hiredis' reader. Returns false on error or EOF.
    func readAvailable() -> Bool {
        redisBufferRead(context) == REDIS_OK
    }

    /// The next complete reply in the reader, copied into a Swift value.
    /// `.failure` means the stream could not be parsed.
    func nextReply() -> Result<RedisReply, RedisError>? {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReplyFromReader(context, &raw) == REDIS_OK else {
            return .failure(RedisError(.protocolError, errorMessage, delivery: .unknown))
        }
        guard let raw else { return nil }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        if reply.pointee.type == REDIS_REPLY_ERROR {
            return .failure(.server(Self.text(reply.pointee.str, reply.pointee.len)))
        }
        return .success(Self.convert(reply))
    }

    var errorMessage: String { Self.errorString(context) }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return bytes.isEmpty ? "connection error" : String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func text(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> String {
        guard let pointer else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            guard let pointer = value.str else { return .bulk([]) }
            return .bulk(pointer.withMemoryRebound(to: UInt8.self, capacity: value.len) {
                Array(UnsafeBufferPointer(start: $0, count: value.len))
            })
        case REDIS_REPLY_STATUS:
            return .status(text(value.str, value.len))
        case REDIS_REPLY_INTEGER:
            return .integer(value.integer)
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ERROR:
            return .error(text(value.str, value.len))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(value.elements)
            for index in 0..<value.elements {
                if let element = value.element[index] { elements.append(convert(element)) }
            }
            return .array(elements)
        default:
            return .null
        }
    }
}
