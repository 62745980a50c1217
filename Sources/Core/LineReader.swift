/// Splits a `ByteStream` into lines (LF or CRLF), for JSONL and other line-oriented inputs.
///
/// - Memory: the stream's buffers plus the longest line (capped at `maxLineBytes`).
public final class LineReader {
    public let stream: ByteStream
    public let maxLineBytes: Int
    private var carry: [UInt8] = []
    private var pending: [UInt8] = []     // the current chunk's unread bytes
    private var pendingStart = 0
    private var eof = false
    /// The 1-based number of the line last returned.
    public private(set) var lineNumber = 0

    /// - Parameter firstLine: the line number of the stream's first line (a part of a file).
    public init(stream: ByteStream, maxLineBytes: Int = 64 << 20, firstLine: Int = 1) {
        lineNumber = firstLine - 1
        self.stream = stream
        self.maxLineBytes = maxLineBytes
    }

    /// Calls `body` with the next line (without its line ending); returns `nil` at end of file.
    /// A last line without a final newline is returned too.
    public func next<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        while true {
            if pendingStart < pending.count {
                let found: Int? = pending.withUnsafeBytes { buf in
                    guard let base = buf.baseAddress else { return nil }
                    let p = memchr(base + pendingStart, 0x0A, buf.count - pendingStart)
                    return p.map { base.distance(to: UnsafeRawPointer($0)) }
                }
                if let nl = found {
                    lineNumber += 1
                    let start = pendingStart
                    pendingStart = nl + 1
                    if carry.isEmpty {
                        return try pending.withUnsafeBytes { buf in
                            var end = nl
                            if end > start && buf[end - 1] == 0x0D { end -= 1 }
                            return try body(UnsafeRawBufferPointer(rebasing: buf[start..<end]))
                        }
                    }
                    carry.append(contentsOf: pending[start..<nl])
                    return try emitCarry(body)
                }
                carry.append(contentsOf: pending[pendingStart...])
                pendingStart = pending.count
                if carry.count > maxLineBytes {
                    throw ReckonError(.badData, "line longer than \(maxLineBytes) bytes",
                                      at: SourcePosition(file: stream.path, line: lineNumber + 1))
                }
            }
            if eof { break }
            let got: Void? = try stream.next { buf in
                pending.removeAll(keepingCapacity: true)
                pending.append(contentsOf: buf)
            }
            pendingStart = 0
            if got == nil { eof = true; pending.removeAll() }
        }
        if !carry.isEmpty {
            lineNumber += 1
            return try emitCarry(body)
        }
        return nil
    }

    private func emitCarry<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        defer { carry.removeAll(keepingCapacity: true) }
        if carry.last == 0x0D { carry.removeLast() }
        return try carry.withUnsafeBytes { try body($0) }
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
