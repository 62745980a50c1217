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
/// With `writeBehind` (large outputs), a full buffer is written in the background while the
/// caller fills another, at its offset in the file — up to `writeDepth` buffers at once, so that
/// the disk has more than one write queued — and, where the file system allows,
/// with `O_DIRECT`, past the page cache: on this VM buffered writes into page-cache pages it has
/// not touched lately ran at ~0.5 GB/s (`dd`), direct writes of whole 4 KiB blocks at ~2 GB/s, and
/// a 10 M-record transform's write phase went from 6–8.5 s to 2.6–2.8 s. The last partial block is
/// written through the cache at `commit`; a direct write the file system refuses goes on through
/// the cache. An error surfaces at the next write or at `commit`.
/// - Memory: a 1 MiB write buffer (`writeDepth` + 1 with `writeBehind`, handed round, not copied).
public final class OutputFile {
    public let path: String
    private let tempPath: String
    private var fd: Int32
    private var buffer = AlignedBytes(capacity: 1 << 20)
    /// `buffer`'s memory, fill and capacity, mirrored here: the hot path (`write(raw:)`) then
    /// touches no class reference (loading `buffer` cost a retain and a release per line: 7% of a
    /// 10 M transform's writing thread). `buffer.count` is brought up to date before any other use.
    private var base: UnsafeMutableRawPointer
    private var used = 0
    private var room: Int
    private var committed = false
    /// Buffers written in the background at once. With one (until session 11), the thread that
    /// fills them waited for the disk 0.27–0.40 s of a 10 M-record transform's 1.2 s write phase:
    /// a direct write of 1 MiB took about as long as encoding it.
    static let writeDepth = 4
    /// A buffer being written in the background, and how that write ended. `free` is taken
    /// before the buffer is handed over and given back when its write has ended.
    private final class InFlight: @unchecked Sendable {
        var block = AlignedBytes(capacity: 1 << 20)
        var error: ReckonError?
        let free = DispatchSemaphore(value: 1)
    }
    private let writer: DispatchQueue?
    /// Every background write (waited for at `commit` and when released).
    private let writing = DispatchGroup()
    private let inFlight: [InFlight]
    /// The slot of `inFlight` the next full buffer goes to.
    private var nextSlot = 0
    /// Whether the file was opened with `O_DIRECT` (then only whole 4 KiB blocks are written
    /// before `commit`).
    private var direct = false
    /// Where the next buffer goes in the file.
    private var offset = 0

    private static var oDirect: Int32 { DirectIO.flag }

    /// Creates the parent folders and opens a temporary file next to `path`.
    public init(path: String, writeBehind: Bool = false) throws(ReckonError) {
        writer = writeBehind ? DispatchQueue(label: "reckon.output-file", attributes: .concurrent) : nil
        inFlight = writeBehind ? (0..<Self.writeDepth).map { _ in InFlight() } : []
        (base, room) = (buffer.base, buffer.capacity)
        self.path = path
        try FileSystem.createDirectories(FileSystem.parent(of: path))
        tempPath = FileSystem.parent(of: path) + "/." + FileSystem.lastComponent(of: path) + ".tmp-\(getpid())"
        let flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC
        fd = -1
        if writeBehind && Self.oDirect != 0 {
            fd = open(tempPath, flags | Self.oDirect, 0o644)   // refused (EINVAL) by file systems without it, e.g. tmpfs
            direct = fd >= 0
        }
        if fd < 0 { fd = open(tempPath, flags, 0o644) }
        if fd < 0 {
            throw ReckonError(.cannotCreate, "cannot create file", at: SourcePosition(file: tempPath),
                              cause: String(cString: strerror(errno)))
        }
    }

    deinit {
        writing.wait()
        if fd >= 0 { close(fd) }
        if !committed { unlink(tempPath) }
    }

    public func write(_ bytes: some Sequence<UInt8>) throws(ReckonError) {
        buffer.count = used
        buffer.append(contentsOf: bytes)
        mirror()
        if used >= 1 << 20 { try flush() }
    }

    /// Appends bytes from a buffer (the hot path of large outputs).
    public func write(raw bytes: UnsafeRawBufferPointer) throws(ReckonError) {
        append(bytes)
        if used >= 1 << 20 { try flush() }
    }

    /// Appends bytes (no generic sequence walk).
    public func write(bytes: [UInt8]) throws(ReckonError) {
        bytes.withUnsafeBytes { append($0) }
        if used >= 1 << 20 { try flush() }
    }

    @inline(__always)
    private func append(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0 else { return }
        if used + n <= room {
            (base + used).copyMemory(from: bytes.baseAddress!, byteCount: n)
            used += n
        } else {
            buffer.count = used
            buffer.append(bytes)
            mirror()
        }
    }

    /// Copies `buffer`'s memory, fill and capacity into the mirror fields.
    private func mirror() {
        (base, used, room) = (buffer.base, buffer.count, buffer.capacity)
    }

    public func write(_ text: String) throws(ReckonError) {
        try write(text.utf8)
    }

    private func flush() throws(ReckonError) {
        buffer.count = used
        defer { mirror() }
        guard let writer else {
            try Self.writeAll(buffer.base, count: buffer.count, to: fd, at: offset, path: path)
            offset += buffer.count
            buffer.count = 0
            return
        }
        // Direct writes go in whole blocks: the partial last one stays in the buffer.
        let n = direct ? buffer.count & ~4095 : buffer.count
        guard n > 0 else { return }
        // Wait for the slot's previous buffer, then hand this one over and fill that one (it gets
        // the partial block, the only bytes copied). Writes at their own offsets may end in any order.
        let job = inFlight[nextSlot]
        nextSlot = (nextSlot + 1) % inFlight.count
        job.free.wait()
        if let e = job.error { job.free.signal(); throw e }
        let full = buffer
        buffer = job.block
        buffer.count = 0
        buffer.append(UnsafeRawBufferPointer(start: full.base + n, count: full.count - n))
        full.count = n
        job.block = full
        let (fd, path, at) = (self.fd, self.path, offset)
        offset += n
        writer.async(group: writing) {
            do throws(ReckonError) { try Self.writeAll(full.base, count: n, to: fd, at: at, path: path) } catch { job.error = error }
            job.free.signal()
        }
    }

    /// Writes `count` bytes from `base` at `offset` (`pwrite`: the file position is not used).
    private static func writeAll(_ base: UnsafeRawPointer, count: Int, to fd: Int32, at offset: Int, path: String) throws(ReckonError) {
        var written = 0
        while written < count {
            let n = pwrite(fd, base + written, count - written, off_t(offset + written))
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                // A file system that opened the file with O_DIRECT but refuses a direct write (a
                // short write left an unaligned offset, or it never supported it): through the
                // page cache from here on.
                let flags = fcntl(fd, F_GETFL)
                if e == EINVAL && oDirect != 0 && flags >= 0 && flags & oDirect != 0 && fcntl(fd, F_SETFL, flags & ~oDirect) == 0 { continue }
                throw ReckonError(.io, "write failed", at: SourcePosition(file: path), cause: String(cString: strerror(e)))
            }
            written += n
        }
    }

    /// Flushes, syncs and renames the temporary file over the target.
    public func commit() throws(ReckonError) {
        try flush()
        writing.wait()
        if let e = inFlight.lazy.compactMap(\.error).first { throw e }
        if direct {
            // The partial last block, through the page cache.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~Self.oDirect)
            direct = false
            try Self.writeAll(buffer.base, count: buffer.count, to: fd, at: offset, path: path)
            offset += buffer.count
            buffer.count = 0
            mirror()
        }
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

    /// Gives the file at `source` a second name, `path`, atomically and without copying its bytes:
    /// a hard link made under a temporary name beside `path` and renamed over it, so `path` is
    /// never missing or partial, and a file that was there keeps living under any other name it
    /// has. Sharing one file between two names is safe because Reckon never writes a file in place
    /// (every output is a new file renamed over the old). Copies (`copy`) where a link cannot be
    /// made: across file systems, or where links are refused.
    public static func link(_ source: String, to path: String) throws(ReckonError) {
        try FileSystem.createDirectories(FileSystem.parent(of: path))
        let temp = FileSystem.parent(of: path) + "/." + FileSystem.lastComponent(of: path) + ".link-\(getpid())"
        unlink(temp)
        if hardLink(source, temp) == 0 {
            let renamed = rename(temp, path) == 0
            // When both names were already one file, rename does nothing and leaves `temp`.
            unlink(temp)
            if renamed { return }
        }
        try copy(source, to: path)
    }

    /// Copies the file at `source` to `path` atomically, 1 MiB at a time (written behind: the
    /// copies are the large published datasets).
    public static func copy(_ source: String, to path: String) throws(ReckonError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            throw ReckonError(.missingInput, "cannot open file", at: SourcePosition(file: source), cause: String(cString: strerror(errno)))
        }
        defer { close(input) }
        let f = try OutputFile(path: path, writeBehind: true)
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

/// `link(2)`, under a name that does not clash with `OutputFile.link`.
private func hardLink(_ source: String, _ target: String) -> Int32 {
#if canImport(Glibc)
    Glibc.link(source, target)
#else
    Darwin.link(source, target)
#endif
}

/// Direct I/O (`O_DIRECT`): reads and writes of whole 4 KiB blocks at 4 KiB-aligned offsets from
/// 4 KiB-aligned memory, past the page cache (see `OutputFile` for why it matters on this VM).
public enum DirectIO {
    /// `O_DIRECT` for this architecture (not in Glibc's Swift overlay); 0 where unknown.
#if arch(x86_64) || arch(i386)
    public static let flag: Int32 = 0o40000
#elseif arch(arm64) || arch(arm)
    public static let flag: Int32 = 0o200000
#else
    public static let flag: Int32 = 0
#endif
    /// The alignment and size unit of direct transfers.
    public static let block = 4096
}

/// A growable byte buffer whose storage is 4 KiB-aligned (as `O_DIRECT` needs); a class, so that
/// `OutputFile` hands whole buffers to its writer thread instead of copying them.
public final class AlignedBytes: @unchecked Sendable {
    public private(set) var base: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    /// Bytes held (from `base`).
    public var count = 0

    public init(capacity: Int) {
        self.capacity = max(4096, (capacity + 4095) & ~4095)
        base = .allocate(byteCount: self.capacity, alignment: 4096)
    }

    deinit { base.deallocate() }

    @inline(__always)
    private func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        let size = (max(count + extra, 2 * capacity) + 4095) & ~4095
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        bigger.copyMemory(from: base, byteCount: count)
        base.deallocate()
        (base, capacity) = (bigger, size)
    }

    /// Makes room for `n` bytes and holds that many (bytes beyond the old count are unspecified).
    public func resize(to n: Int) {
        if n > count { reserve(n - count) }
        count = n
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        reserve(bytes.count)
        (base + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        count += bytes.count
    }

    func append(contentsOf bytes: some Sequence<UInt8>) {
        if bytes.withContiguousStorageIfAvailable({ append(UnsafeRawBufferPointer($0)) }) != nil { return }
        for b in bytes {
            reserve(1)
            base.storeBytes(of: b, toByteOffset: count, as: UInt8.self)
            count += 1
        }
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
