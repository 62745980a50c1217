#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// An unnamed temporary file: created in `folder` and unlinked at once, so that nothing is left
/// behind whatever way the run ends (the space is freed when the handle closes, in `deinit`).
/// Bytes are appended at the end and read back at any offset.
/// - Memory: none beyond the caller's buffers.
///
/// With `direct`, whole blocks can also be appended and read with `O_DIRECT` (`appendBlocks`,
/// `readBlocks`), past the page cache; where the file system refuses it (tmpfs), the same calls go
/// through the cache.
public final class TemporaryFile: @unchecked Sendable {
    private let fd: Int32
    /// A second descriptor opened with `O_DIRECT` (-1: none, or the file system refused it).
    private var directFd: Int32 = -1
    /// Where the file was created (for error messages: it has no name).
    public let folder: String
    /// Bytes written so far.
    public private(set) var size = 0

    /// - Parameter purpose: what the file holds, for the error if it cannot be created.
    /// - Parameter direct: also open it for direct block transfers (`appendBlocks`, `readBlocks`).
    public init(folder: String, purpose: String, direct: Bool = false) throws(ReckonError) {
        try FileSystem.createDirectories(folder)
        var template = Array((folder + "/.reckon-tmp-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw ReckonError(.cannotCreate, "cannot create a temporary file for \(purpose)", at: SourcePosition(file: folder),
                              cause: String(cString: strerror(errno)))
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if direct && DirectIO.flag != 0 { directFd = open(path, O_RDWR | O_CLOEXEC | DirectIO.flag) }
        unlink(path)
        self.fd = fd
        self.folder = folder
    }

    deinit {
        close(fd)
        if directFd >= 0 { close(directFd) }
    }

    /// Appends whole blocks: `bytes` starts at a `DirectIO.block`-aligned address, its count is a
    /// multiple of the block, and so is the file's size before the call. Direct where possible.
    public func appendBlocks(_ bytes: UnsafeRawBufferPointer) throws(ReckonError) {
        precondition(size % DirectIO.block == 0 && bytes.count % DirectIO.block == 0
                     && Int(bitPattern: bytes.baseAddress) % DirectIO.block == 0)
        var done = 0
        while done < bytes.count {
            let direct = directFd >= 0
            let w = pwrite(direct ? directFd : fd, bytes.baseAddress! + done, bytes.count - done, off_t(size))
            if w < 0 && errno == EINTR { continue }
            if w < 0 && errno == EINVAL && direct { dropDirect(); continue }
            guard w > 0 else { throw ioError("cannot write a temporary file (disk full?)") }
            done += w
            size += w
            // A short direct write leaves an unaligned end: the rest goes through the cache.
            if direct && w % DirectIO.block != 0 { dropDirect() }
        }
    }

    /// Fills `buffer` with the bytes at `offset`: offset, address and count all multiples of
    /// `DirectIO.block`, within what was written. Direct where possible.
    public func readBlocks(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(ReckonError) {
        precondition(offset % DirectIO.block == 0 && buffer.count % DirectIO.block == 0
                     && Int(bitPattern: buffer.baseAddress) % DirectIO.block == 0)
        var got = 0
        while got < buffer.count {
            let direct = directFd >= 0
            let r = pread(direct ? directFd : fd, buffer.baseAddress! + got, buffer.count - got, off_t(offset + got))
            if r < 0 && errno == EINTR { continue }
            if r < 0 && errno == EINVAL && direct { dropDirect(); continue }
            guard r > 0 else { throw ioError("cannot read a temporary file back") }
            got += r
            if direct && r % DirectIO.block != 0 { dropDirect() }
        }
    }

    /// A path that opens this (unnamed) file while the handle is open — `/proc/self/fd/N` on
    /// Linux — for a reader that takes a path; nil where there is none.
    public var openablePath: String? {
        let path = "/proc/self/fd/\(fd)"
        return FileSystem.exists(path) ? path : nil
    }

    /// Whether block transfers are direct (not through the page cache).
    public var isDirect: Bool { directFd >= 0 }

    private func dropDirect() {
        close(directFd)
        directFd = -1
    }

    /// Appends `bytes` at the end.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(ReckonError) {
        var done = 0
        while done < bytes.count {
            let w = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(size))
            if w < 0 && errno == EINTR { continue }
            guard w > 0 else { throw ioError("cannot write a temporary file (disk full?)") }
            done += w
            size += w
        }
    }

    public func append(_ bytes: [UInt8]) throws(ReckonError) {
        do { try bytes.withUnsafeBytes { try append($0) } } catch let e as ReckonError { throw e } catch {
            throw ReckonError(.io, "cannot write a temporary file", at: SourcePosition(file: folder))
        }
    }

    /// Fills `buffer` with the bytes at `offset` (which must have been written).
    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(ReckonError) {
        var got = 0
        while got < buffer.count {
            let r = pread(fd, buffer.baseAddress! + got, buffer.count - got, off_t(offset + got))
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { throw ioError("cannot read a temporary file back") }
            got += r
        }
    }

    /// Calls `body` with the whole file, 1 MiB at a time, in order.
    public func forEachChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < size {
            let n = min(buffer.count, size - offset)
            try buffer.withUnsafeMutableBytes { try read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n])) }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += n
        }
    }

    private func ioError(_ message: String) -> ReckonError {
        ReckonError(.io, message, at: SourcePosition(file: folder), cause: String(cString: strerror(errno)))
    }
}

/// Bytes kept in the order they come, for one thread's findings that join a stage's output later
/// (after those of the threads before it): in memory up to `limit`, the rest in an unlinked
/// temporary file created at the first overflow.
/// - Memory: at most `limit` bytes (and one append more).
public final class SpillingBytes: @unchecked Sendable {
    private let spillFolder: String
    private let purpose: String
    private let limit: Int
    private var bytes: [UInt8] = []
    private var overflow: TemporaryFile?

    /// - Parameters:
    ///   - spillFolder: where the temporary file is created, if one is needed.
    ///   - purpose: what the bytes are, for the error if that file cannot be created.
    public init(spillFolder: String, purpose: String, limit: Int = 4 << 20) {
        self.spillFolder = spillFolder
        self.purpose = purpose
        self.limit = limit
    }

    public func append(contentsOf more: some Sequence<UInt8>) throws(ReckonError) {
        bytes.append(contentsOf: more)
        if bytes.count >= limit {
            if overflow == nil { overflow = try TemporaryFile(folder: spillFolder, purpose: purpose) }
            try overflow!.append(bytes)
            bytes.removeAll(keepingCapacity: true)
        }
    }

    /// Calls `body` with the bytes in order, a chunk at a time (each chunk as long as the appends
    /// before a spill were, or 1 MiB of the file); then forgets them.
    public func drain(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try overflow?.forEachChunk(body)
        try bytes.withUnsafeBytes { try body($0) }
        overflow = nil
        bytes = []
    }
}
