#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// A file written atomically: bytes go to a temporary file beside the target, which replaces the
/// target only on `commit()` (fsync, then rename). A run killed before `commit()` leaves the
/// previous file intact; an uncommitted writer removes its temporary file when released.
///
/// With `writeBehind`, a full buffer is written by a background thread while the caller fills
/// the other one: the kernel's copy of large outputs overlaps with encoding them (bytes still land
/// in order; an error surfaces at the next write or at `commit`).
/// - Memory: a 1 MiB write buffer (two with `writeBehind`).
public final class OutputFile {
    public let path: String
    private let tempPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var committed = false
    /// The buffer being written in the background, and how that write ended.
    private final class InFlight: @unchecked Sendable {
        var bytes: [UInt8] = []
        var error: ReckonError?
    }
    private let writer: DispatchQueue?
    private let writing = DispatchGroup()
    private var inFlight = InFlight()

    /// Creates the parent folders and opens a temporary file next to `path`.
    public init(path: String, writeBehind: Bool = false) throws(ReckonError) {
        writer = writeBehind ? DispatchQueue(label: "reckon.output-file") : nil
        self.path = path
        try FileSystem.createDirectories(FileSystem.parent(of: path))
        tempPath = FileSystem.parent(of: path) + "/." + FileSystem.lastComponent(of: path) + ".tmp-\(getpid())"
        fd = open(tempPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 {
            throw ReckonError(.cannotCreate, "cannot create file", at: SourcePosition(file: tempPath),
                              cause: String(cString: strerror(errno)))
        }
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        writing.wait()
        if fd >= 0 { close(fd) }
        if !committed { unlink(tempPath) }
    }

    public func write(_ bytes: some Sequence<UInt8>) throws(ReckonError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Appends bytes from a buffer.
    public func write(raw bytes: UnsafeRawBufferPointer) throws(ReckonError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Appends bytes (the hot path of large outputs: no generic sequence walk).
    public func write(bytes: [UInt8]) throws(ReckonError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    public func write(_ text: String) throws(ReckonError) {
        try write(text.utf8)
    }

    private func flush() throws(ReckonError) {
        guard let writer else {
            try Self.writeAll(buffer, to: fd, path: path)
            buffer.removeAll(keepingCapacity: true)
            return
        }
        // Wait for the previous buffer, then hand this one over and fill the other.
        writing.wait()
        if let e = inFlight.error { throw e }
        let job = inFlight
        swap(&job.bytes, &buffer)
        buffer.removeAll(keepingCapacity: true)
        let (fd, path) = (self.fd, self.path)
        writer.async(group: writing) {
            do throws(ReckonError) { try Self.writeAll(job.bytes, to: fd, path: path) } catch { job.error = error }
        }
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32, path: String) throws(ReckonError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReckonError(.io, "write failed", at: SourcePosition(file: path), cause: String(cString: strerror(errno)))
            }
            written += n
        }
    }

    /// Flushes, syncs and renames the temporary file over the target.
    public func commit() throws(ReckonError) {
        try flush()
        writing.wait()
        if let e = inFlight.error { throw e }
        if fsync(fd) != 0 {
            throw ReckonError(.io, "fsync failed", at: SourcePosition(file: path), cause: String(cString: strerror(errno)))
        }
        close(fd)
        fd = -1
        if rename(tempPath, path) != 0 {
            throw ReckonError(.io, "rename failed", at: SourcePosition(file: path), cause: String(cString: strerror(errno)))
        }
        committed = true
    }

    /// Writes `bytes` to `path` atomically in one call.
    public static func write(_ bytes: some Sequence<UInt8>, to path: String) throws(ReckonError) {
        let f = try OutputFile(path: path)
        try f.write(bytes)
        try f.commit()
    }

    public static func write(_ text: String, to path: String) throws(ReckonError) {
        try write(text.utf8, to: path)
    }

    /// Copies the file at `source` to `path` atomically, 1 MiB at a time.
    public static func copy(_ source: String, to path: String) throws(ReckonError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            throw ReckonError(.missingInput, "cannot open file", at: SourcePosition(file: source), cause: String(cString: strerror(errno)))
        }
        defer { close(input) }
        let f = try OutputFile(path: path)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReckonError(.io, "read failed", at: SourcePosition(file: source), cause: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            try f.write(chunk[0..<n])
        }
        try f.commit()
    }
}

/// Small file-system helpers over POSIX calls (no Foundation on the data path).
public enum FileSystem {
    /// Where unnamed temporary files go when the caller has no folder of its own: `$TMPDIR`, else `/tmp`.
    public static var temporaryFolder: String {
        if let t = getenv("TMPDIR"), let s = String(validatingCString: t), !s.isEmpty { return s }
        return "/tmp"
    }

    public static func parent(of path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return "." }
        return i == path.startIndex ? "/" : String(path[..<i])
    }

    public static func lastComponent(of path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: i)...])
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// `mkdir -p`.
    public static func createDirectories(_ path: String) throws(ReckonError) {
        if path.isEmpty || isDirectory(path) { return }
        try createDirectories(parent(of: path))
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw ReckonError(.cannotCreate, "cannot create folder", at: SourcePosition(file: path),
                              cause: String(cString: strerror(errno)))
        }
    }

    /// The regular files under `root` (recursively), as paths starting with `root`, sorted
    /// bytewise so that every run visits them in the same order. Hidden entries are skipped.
    public static func files(under root: String, includeHidden: Bool = false) throws(ReckonError) -> [String] {
        guard isDirectory(root) else {
            throw ReckonError(.missingInput, "folder not found", at: SourcePosition(file: root))
        }
        var result: [String] = []
        var stack = [root]
        while let dir = stack.popLast() {
            guard let d = opendir(dir) else {
                throw ReckonError(.io, "cannot list folder", at: SourcePosition(file: dir), cause: String(cString: strerror(errno)))
            }
            defer { closedir(d) }
            while let entry = readdir(d) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                if name.hasPrefix(".") && !includeHidden { continue }
                let full = dir + "/" + name
                if isDirectory(full) { stack.append(full) } else { result.append(full) }
            }
        }
        return result.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// Size in bytes and modification time (nanoseconds since the epoch) of a file.
    public static func fingerprint(_ path: String) -> (size: Int, modifiedNanoseconds: Int)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (Int(st.st_size), Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec))
    }

    /// Removes a file if it exists.
    public static func remove(_ path: String) {
        unlink(path)
    }
}
