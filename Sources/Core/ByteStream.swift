#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
internal import CReckonZlib

/// Reads a file as a stream of byte chunks, inflating gzip transparently.
///
/// gzip is detected by its magic bytes (`1f 8b`), never by the file name. A truncated or corrupt
/// gzip stream throws a `ReckonError` naming the file and the compressed byte offset.
///
/// With `inflateAhead`, a gzip file is inflated on a thread of its own, one chunk ahead of the
/// caller (inflating a large export took as long as parsing it, on one core).
///
/// With `readAheadDirect` (a large file Reckon wrote past the page cache), a plain file is read in
/// 2 MiB blocks on a thread of their own, one ahead of the caller, with `O_DIRECT`.
///
/// - Memory: one 1 MiB read buffer and, for gzip, one 1 MiB output buffer (three when inflating
///   ahead), or up to three 2 MiB blocks when reading ahead — whatever the file size.
public final class ByteStream {
    public let path: String
    /// Whether the file was gzip-compressed.
    public private(set) var isGzip = false

    private let fd: Int32
    private var raw: [UInt8]
    private var rawStart = 0
    private var rawEnd = 0
    private var rawEOF = false
    private var inflater: Inflater?
    private var out: [UInt8]
    private var compressedOffset = 0
    private var finished = false
    private var memberEnded = false
    /// For a byte range of a plain file: how many bytes are left to read (`nil`: to the end).
    private var remaining: Int?
    /// Inflating ahead: the producer of (chunk, bytes in it), `nil` after the last; the chunks the
    /// caller is done with go back to it through `spare`. The producer alone then touches the
    /// fields above (the read buffer, the inflater, `out`).
    private var ahead: Prefetched<([UInt8], Int)?>?
    private let spare = Recycled<[UInt8]>()
    /// Reading a plain file ahead past the page cache (`readAheadDirect`): the producer of (block,
    /// bytes in it), `nil` after the last; used blocks go back through `spareBlocks`.
    private var directAhead: Prefetched<(AlignedBytes, Int)?>?
    private let spareBlocks = Recycled<AlignedBytes>()

    public static let chunkSize = 1 << 20

    /// Opens `path` for reading.
    /// - Parameter inflateAhead: inflate a gzip file on a second thread (no effect on a plain file).
    /// - Throws: `ReckonError` `.missingInput` if it does not exist, `.io` if it cannot be read.
    public init(path: String, inflateAhead: Bool = false) throws(ReckonError) {
        self.path = path
        fd = try Self.open(path)
        raw = [UInt8](repeating: 0, count: Self.chunkSize)
        out = []
        try fillRaw()
        if rawEnd - rawStart >= 2 && raw[rawStart] == 0x1f && raw[rawStart + 1] == 0x8b {
            isGzip = true
            inflater = try Inflater(path: path)
            if inflateAhead {
                let spare = self.spare
                // `unowned(unsafe)`: `deinit` stops the producer (`finish()`, which waits for it)
                // before any field goes; a checked `unowned` traps once `deinit` has begun.
                ahead = Prefetched(count: .max, label: "reckon.inflate") { [unowned(unsafe) self] _ in
                    var chunk = spare.take() ?? [UInt8](repeating: 0, count: Self.chunkSize)
                    let n = try chunk.withUnsafeMutableBytes { try self.inflateSome(into: $0) }
                    return n.map { (chunk, $0) }
                }
            } else {
                out = [UInt8](repeating: 0, count: Self.chunkSize)
            }
        }
    }

    /// Opens a byte range of a plain (not compressed) file: reading starts at `range.lowerBound`
    /// and ends at `range.upperBound`. For reading one part of a large file in parallel.
    public init(path: String, range: Range<Int>) throws(ReckonError) {
        self.path = path
        fd = try Self.open(path)
        raw = [UInt8](repeating: 0, count: Self.chunkSize)
        out = []
        if lseek(fd, off_t(range.lowerBound), SEEK_SET) < 0 {
            throw ReckonError(.io, "seek failed", at: SourcePosition(file: path, byteOffset: range.lowerBound), cause: String(cString: strerror(errno)))
        }
        remaining = range.count
        try fillRaw()
    }

    /// Opens a file Reckon wrote itself with `O_DIRECT` (the estimate: gigabytes, not in the page
    /// cache) for reading from start to end: after the first chunk, blocks of 2 MiB are read on a
    /// thread of their own, one ahead of the caller, with `O_DIRECT` where the file system allows
    /// (else through the cache). On this VM a reconcile that read a freshly written 1.8 GB estimate
    /// through the page cache spent 1.5–3 s of system time more than one reading it warm; `dd`
    /// reads it direct in ~1.1 s, on a thread that otherwise waits. A gzip file reads as usual.
    /// - Memory: the 1 MiB first chunk and up to three 2 MiB blocks.
    public convenience init(path: String, readAheadDirect: Bool) throws(ReckonError) {
        try self.init(path: path)
        guard readAheadDirect, !isGzip, !rawEOF else { return }
        let reader = try DirectReader(path: path, offset: rawEnd)
        let spare = spareBlocks
        directAhead = Prefetched(count: .max, label: "reckon.read-ahead") { _ in
            let block = spare.take() ?? AlignedBytes(capacity: 2 << 20)
            let n = try reader.read(into: block)
            return n == 0 ? nil : (block, n)
        }
    }

    /// Files of this size or more that Reckon wrote itself (its datasets) are read ahead direct by
    /// `dataset(path:)`.
    public static let directReadMinimumBytes = 8 << 20

    /// Opens a dataset Reckon wrote (a FOCUS file): read ahead past the page cache when it has
    /// `directReadMinimumBytes` or more, since such files were written past it.
    public static func dataset(path: String) throws(ReckonError) -> ByteStream {
        try ByteStream(path: path, readAheadDirect: (FileSystem.fingerprint(path)?.size ?? 0) >= directReadMinimumBytes)
    }

    deinit {
        ahead?.finish()  // the producer uses this object's fields: it stops before they go
        directAhead?.finish()
        close(fd)
    }

    /// Opens `path` read-only. - Throws: `.missingInput` if it does not exist, `.io` otherwise.
    private static func open(_ path: String) throws(ReckonError) -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            throw ReckonError(e == ENOENT ? .missingInput : .io, "cannot open file",
                              at: SourcePosition(file: path), cause: String(cString: strerror(e)))
        }
        return fd
    }

    private func fillRaw() throws(ReckonError) {
        rawStart = 0
        rawEnd = 0
        while rawEnd < raw.count {
            let want = min(raw.count - rawEnd, remaining ?? Int.max)
            if want == 0 { rawEOF = true; break }
            let n = raw.withUnsafeMutableBytes { buf in
                read(fd, buf.baseAddress! + rawEnd, want)
            }
            if n > 0, let r = remaining { remaining = r - n }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReckonError(.io, "read failed", at: SourcePosition(file: path), cause: String(cString: strerror(errno)))
            }
            if n == 0 { rawEOF = true; break }
            rawEnd += n
        }
    }

    /// Calls `body` with the next chunk of (decompressed) bytes; returns `false` at end of file.
    /// The buffer is valid only inside `body`.
    public func next<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        if finished { return nil }
        if !isGzip {
            if rawStart == rawEnd, let directAhead {
                guard let (block, n) = try directAhead.next() ?? nil else { finished = true; return nil }
                defer { spareBlocks.put(block) }
                return try body(UnsafeRawBufferPointer(start: block.base, count: n))
            }
            if rawStart == rawEnd {
                if rawEOF { finished = true; return nil }
                try fillRaw()
                if rawStart == rawEnd { finished = true; return nil }
            }
            let s = rawStart, e = rawEnd
            rawStart = rawEnd
            return try raw.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[s..<e])) }
        }
        if let ahead {
            guard let (chunk, n) = try ahead.next() ?? nil else { finished = true; return nil }
            defer { spare.put(chunk) }
            return try chunk.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        guard let produced = try out.withUnsafeMutableBytes({ try inflateSome(into: $0) }) else { finished = true; return nil }
        return try out.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
    }

    /// gzip: inflates into `output` until some bytes are produced (how many: > 0) or the stream
    /// ends (`nil`, then again on every call).
    private func inflateSome(into output: UnsafeMutableRawBufferPointer) throws -> Int? {
        while true {
            if memberEnded {
                // A gzip file may hold several members; go on if more bytes follow.
                if rawStart == rawEnd && !rawEOF { try fillRaw() }
                guard rawStart < rawEnd else { return nil }
                inflater = try Inflater(path: path)
                memberEnded = false
            }
            if rawStart == rawEnd && !rawEOF { try fillRaw() }
            let (consumed, produced, ended) = try raw.withUnsafeMutableBytes { input in
                try inflater!.inflate(input: UnsafeMutableRawBufferPointer(rebasing: input[rawStart..<rawEnd]),
                                      output: output, path: path, offset: compressedOffset)
            }
            rawStart += consumed
            compressedOffset += consumed
            if ended {
                memberEnded = true
            } else if produced == 0 && rawStart == rawEnd && rawEOF {
                throw ReckonError(.badData, "truncated gzip stream: the file ends before the compressed data does",
                                  at: SourcePosition(file: path, byteOffset: compressedOffset))
            }
            if produced > 0 { return produced }
        }
    }

    /// Reads the whole (decompressed) file. Only for inputs known to be small (rate cards,
    /// invoices, API response pages); large exports go through `next(_:)` or `LineReader`.
    public static func readAll(path: String) throws -> [UInt8] {
        let stream = try ByteStream(path: path)
        var all: [UInt8] = []
        while try stream.next({ all.append(contentsOf: $0) }) != nil {}
        return all
    }
}

/// Reads a file from an offset on, block after block, with `O_DIRECT` while the file system and the
/// offsets allow it (a refused or unaligned read goes on through the page cache). Owns its file
/// descriptor (closed on deinit); used by one thread at a time.
final class DirectReader: @unchecked Sendable {
    let path: String
    private var fd: Int32
    private var direct: Bool
    private var offset: Int

    init(path: String, offset: Int) throws(ReckonError) {
        self.path = path
        self.offset = offset
        fd = DirectIO.flag == 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC | DirectIO.flag)
        direct = fd >= 0 && offset % DirectIO.block == 0
        if fd >= 0 && !direct { close(fd); fd = -1 }
        if fd < 0 { fd = open(path, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { throw ReckonError(.io, "cannot open file", at: SourcePosition(file: path), cause: String(cString: strerror(errno))) }
    }

    deinit { close(fd) }

    /// Fills `block` (up to its capacity) with the next bytes; returns how many (0 at the end).
    func read(into block: AlignedBytes) throws(ReckonError) -> Int {
        var got = 0
        while got < block.capacity {
            let r = pread(fd, block.base + got, block.capacity - got, off_t(offset + got))
            if r < 0 && errno == EINTR { continue }
            if r < 0 && errno == EINVAL && direct {
                // Refused, or the offset is no longer aligned (a short read before the end): on
                // through the page cache.
                let plain = open(path, O_RDONLY | O_CLOEXEC)
                guard plain >= 0 else { break }
                close(fd)
                (fd, direct) = (plain, false)
                continue
            }
            if r < 0 {
                throw ReckonError(.io, "read failed", at: SourcePosition(file: path, byteOffset: offset + got), cause: String(cString: strerror(errno)))
            }
            if r == 0 { break }
            got += r
        }
        offset += got
        return got
    }
}

/// Owns one zlib inflate stream; frees it on deinit.
struct Inflater: ~Copyable {
    private let stream: UnsafeMutablePointer<z_stream>

    init(path: String) throws(ReckonError) {
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 + 16: a gzip wrapper only (zlib or raw deflate is not accepted as gzip).
        let rc = reckon_inflateInit2(stream, 15 + 16)
        if rc != Z_OK {
            stream.deallocate()
            throw ReckonError(.io, "zlib could not start inflating", at: SourcePosition(file: path), cause: "zlib \(rc)")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Inflates from `input` into `output`; returns bytes consumed, bytes produced, stream end.
    func inflate(input: UnsafeMutableRawBufferPointer, output: UnsafeMutableRawBufferPointer,
                 path: String, offset: Int) throws(ReckonError) -> (Int, Int, Bool) {
        stream.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = uInt(input.count)
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(output.count)
        let rc = CReckonZlib.inflate(stream, Z_NO_FLUSH)
        let consumed = input.count - Int(stream.pointee.avail_in)
        let produced = output.count - Int(stream.pointee.avail_out)
        switch rc {
        case Z_OK, Z_BUF_ERROR: return (consumed, produced, false)
        case Z_STREAM_END: return (consumed, produced, true)
        default:
            let msg = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
            throw ReckonError(.badData, "corrupt gzip data", at: SourcePosition(file: path, byteOffset: offset + consumed), cause: msg)
        }
    }
}
