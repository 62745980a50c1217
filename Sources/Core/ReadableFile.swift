#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A file opened for reading at any offset (`pread`), closed when the value goes away.
/// Non-copyable: it owns its descriptor. Several threads may each open their own.
public struct ReadableFile: ~Copyable {
    private let fd: Int32
    public let path: String
    /// The file's size when opened.
    public let size: Int

    /// - Throws: `.missingInput` when the file does not exist, `.io` otherwise.
    public init(path: String) throws(ReckonError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw ReckonError(e == ENOENT ? .missingInput : .io, "cannot open file", at: SourcePosition(file: path),
                              cause: String(cString: strerror(e)))
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw ReckonError(.io, "cannot read the file's size", at: SourcePosition(file: path), cause: String(cString: strerror(e)))
        }
        self.fd = fd
        self.path = path
        size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Fills `buffer` with the bytes at `offset`. - Throws: `.io`, also when the file ends first.
    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(ReckonError) {
        var got = 0
        while got < buffer.count {
            let r = pread(fd, buffer.baseAddress! + got, buffer.count - got, off_t(offset + got))
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else {
                throw ReckonError(.io, r == 0 ? "the file ended early" : "read failed", at: SourcePosition(file: path, byteOffset: offset + got),
                                  cause: r == 0 ? nil : String(cString: strerror(errno)))
            }
            got += r
        }
    }
}
