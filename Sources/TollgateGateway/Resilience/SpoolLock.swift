import Foundation
import Glibc

/// The exclusive claim of one process on a spool: an `flock` on `<spool>.lock`, taken
/// without waiting and held for the life of the process. The kernel drops it when the
/// process exits, however it exits, so a dead gateway's spool is free for the next owner.
///
/// The lock sits beside the spool, not on it, because a replay renames the spool aside.
final class SpoolLock: Sendable {
    let path: String
    private let descriptor: Int32

    /// Takes the lock for the spool at `spoolPath`, or throws ``SpoolError/Code/inUse``
    /// naming the process that holds it.
    init(spoolPath: String) throws {
        path = spoolPath + ".lock"
        // A lock file removed by its owner (a drained spool) while we opened it would be a
        // lock on nothing: take it again until the file we hold is the one at `path`.
        for _ in 0..<10 {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw SpoolError(.cannotOpen, "cannot create the spool lock \(Self.absolute(path)): \(SpoolError.systemError)")
            }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                let holder = Self.holder(descriptor)
                close(descriptor)
                throw SpoolError(.inUse, "the spool \(Self.absolute(spoolPath)) is in use by another running process\(holder.map { " (pid \($0))" } ?? "")")
            }
            var held = stat()
            var named = stat()
            if fstat(descriptor, &held) == 0, stat(path, &named) == 0, held.st_dev == named.st_dev, held.st_ino == named.st_ino {
                let pid = Array("\(getpid())\n".utf8)
                _ = ftruncate(descriptor, 0)
                _ = pwrite(descriptor, pid, pid.count, 0)
                self.descriptor = descriptor
                return
            }
            close(descriptor)
        }
        throw SpoolError(.cannotOpen, "cannot take the spool lock \(Self.absolute(path)): it keeps being replaced")
    }

    deinit { close(descriptor) }

    /// Removes the lock file while still holding it (for a spool drained for good), so
    /// that a later owner takes a fresh one.
    func remove() { unlink(path) }

    /// The PID written by the process holding the lock, if readable.
    private static func holder(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// `path` as an absolute path, for messages.
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
