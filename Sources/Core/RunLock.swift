#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock on an output folder for the life of a process (`flock` on `<folder>/.reckon.lock`),
/// so that two runs never write the same outputs. The kernel releases it when the process ends,
/// however it ends, so a killed run never leaves a stale lock behind.
public final class RunLock {
    private let fd: Int32
    public let path: String

    /// Takes the lock without waiting.
    /// - Throws: `ReckonError.busy` (exit 75) naming the process that holds it.
    public init(folder: String) throws(ReckonError) {
        try FileSystem.createDirectories(folder)
        path = folder + "/.reckon.lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 {
            throw ReckonError(.cannotCreate, "cannot create the lock file", at: SourcePosition(file: path), cause: String(cString: strerror(errno)))
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var holder = ""
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, 32, 0)
            if n > 0 { holder = String(decoding: buf[0..<n], as: UTF8.self).trimmed }
            close(fd)
            throw ReckonError(.busy, "another Reckon run is writing this output folder" + (holder.isEmpty ? "" : " (process \(holder))")
                              + "; try again when it has finished", at: SourcePosition(file: folder))
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        // A run killed mid-write leaves its temporary files behind; holding the lock, nothing else is writing.
        for file in (try? FileSystem.files(under: folder, includeHidden: true)) ?? [] {
            let name = FileSystem.lastComponent(of: file)
            if name.hasPrefix("."), name.contains(".tmp-") { FileSystem.remove(file) }
        }
    }

    deinit { close(fd) }
}
