#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
internal import CReckonScan

/// One CSV record: a span of bytes per field. Unquoted fields point into the reader's buffer,
/// quoted ones (with `""` turned into `"`) into the reader's scratch buffer.
///
/// The spans are valid until the next call to `CSVReader.next(into:)`. The record reuses its
/// storage from one record to the next (no allocation per record).
public final class CSVRecord {
    /// All mutable state behind one pointer: writes through it need no dynamic exclusivity
    /// checks, which class properties would cost on every field.
    @usableFromInline
    struct State {
        @usableFromInline var storage: UnsafeMutablePointer<UnsafeRawBufferPointer>
        @usableFromInline var quoted: UnsafeMutablePointer<Bool>
        @usableFromInline var capacity: Int
        @usableFromInline var count: Int
        @usableFromInline var line: Int
    }

    @usableFromInline
    let state: UnsafeMutablePointer<State>

    public init() {
        state = .allocate(capacity: 1)
        state.initialize(to: State(storage: .allocate(capacity: 32), quoted: .allocate(capacity: 32), capacity: 32, count: 0, line: 0))
    }

    deinit {
        state.pointee.storage.deallocate()
        state.pointee.quoted.deallocate()
        state.deallocate()
    }

    /// The number of fields.
    @inlinable
    public var count: Int { state.pointee.count }

    /// The 1-based line on which the record starts.
    public var line: Int { state.pointee.line }

    /// The bytes of field `k`.
    @inlinable
    public func field(_ k: Int) -> UnsafeRawBufferPointer {
        precondition(k >= 0 && k < state.pointee.count)
        return state.pointee.storage[k]
    }

    /// Whether field `k` was quoted (a quoted empty field is an empty string, not a null).
    public func quoted(_ k: Int) -> Bool { state.pointee.quoted[k] }

    public func withField<R>(_ k: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(field(k))
    }

    /// The field as a String; `nil` if it is not valid UTF-8.
    public func string(_ k: Int) -> String? {
        String(validating: field(k), as: UTF8.self)
    }

    public func isEmpty(_ k: Int) -> Bool { field(k).isEmpty }

    /// The record's fields as they would be written back (for quarantine entries).
    public var rawText: String {
        (0..<count).map { k in
            var out = ""
            CSVWriter.appendField(String(decoding: field(k), as: UTF8.self), into: &out)
            return out
        }.joined(separator: ",")
    }

    @inline(__always)
    fileprivate func append(_ span: UnsafeRawBufferPointer, quoted: Bool) {
        if state.pointee.count == state.pointee.capacity { grow() }
        let n = state.pointee.count
        state.pointee.storage[n] = span
        state.pointee.quoted[n] = quoted
        state.pointee.count = n + 1
    }

    private func grow() {
        let old = state.pointee
        let newCapacity = old.capacity * 2
        let s = UnsafeMutablePointer<UnsafeRawBufferPointer>.allocate(capacity: newCapacity)
        s.moveInitialize(from: old.storage, count: old.count)
        old.storage.deallocate()
        let q = UnsafeMutablePointer<Bool>.allocate(capacity: newCapacity)
        q.moveInitialize(from: old.quoted, count: old.count)
        old.quoted.deallocate()
        state.pointee.storage = s
        state.pointee.quoted = q
        state.pointee.capacity = newCapacity
    }

    fileprivate func reset(line: Int) {
        state.pointee.count = 0
        state.pointee.line = line
    }
}

/// A streaming RFC 4180 reader over bytes: quoted fields with embedded delimiters, newlines and
/// doubled quotes; LF or CRLF; a leading UTF-8 BOM is skipped; configurable delimiter; optional
/// comment lines (a line whose first byte is the comment byte, outside quotes); blank lines skipped.
///
/// Errors (`ReckonError.badData`) name the file and line: an unterminated quote, a quote inside an
/// unquoted field, text after a closing quote, a lone carriage return.
///
/// The scanner works on one contiguous buffer it owns: unquoted fields are handed out in place
/// (no copy), quoted ones are unescaped into a scratch buffer; a record cut by a chunk boundary is
/// rescanned once the next chunk is in. An unquoted field's end comes from a bit mask of the stop
/// bytes of 64 bytes at a time (`reckon_csv_stops`), not from a test per byte.
/// - Complexity: O(bytes); about one mask per 64 bytes plus a few instructions per field.
/// - Memory: the stream's buffers plus about two chunks plus the longest record, twice.
public final class CSVReader {
    public let stream: ByteStream
    public let delimiter: UInt8
    public let comment: UInt8?
    private var buf: UnsafeMutableRawPointer
    private var capacity: Int
    private var start = 0     // first unread byte
    private var end = 0       // one past the last byte read
    private var scratch: UnsafeMutableRawPointer
    private var scratchCapacity: Int
    private var eof = false
    private var line = 1
    private var atFileStart = true

    /// - Parameter firstLine: the line number of the stream's first byte (for a stream that starts
    ///   in the middle of a file, at a record boundary).
    public init(stream: ByteStream, delimiter: UInt8 = UInt8(ascii: ","), comment: UInt8? = nil, firstLine: Int = 1) {
        self.stream = stream
        self.delimiter = delimiter
        self.comment = comment
        line = firstLine
        atFileStart = firstLine == 1
        capacity = ByteStream.chunkSize * 2
        buf = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        scratchCapacity = capacity
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchCapacity, alignment: 16)
    }

    deinit {
        buf.deallocate()
        scratch.deallocate()
    }

    /// Moves unread bytes to the front and appends the next chunk; `false` at end of input.
    private func refill() throws -> Bool {
        if eof { return false }
        if start > 0 {
            let n = end - start
            if n > 0 { memmove(buf, buf + start, n) }
            start = 0
            end = n
        }
        let got: Void? = try stream.next { chunk in
            if end + chunk.count > capacity {
                let newCapacity = max(capacity * 2, end + chunk.count)
                let bigger = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
                bigger.copyMemory(from: buf, byteCount: end)
                buf.deallocate()
                buf = bigger
                capacity = newCapacity
            }
            (buf + end).copyMemory(from: chunk.baseAddress!, byteCount: chunk.count)
            end += chunk.count
        }
        if got == nil { eof = true; return false }
        if atFileStart {
            atFileStart = false
            let p = buf.assumingMemoryBound(to: UInt8.self)
            if end >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { start = 3 }
        }
        if scratchCapacity < capacity {
            scratch.deallocate()
            scratchCapacity = capacity
            scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchCapacity, alignment: 16)
        }
        return true
    }

    private enum Scan { case complete(Int, newlines: Int), incomplete }

    /// Reads the next record into `record`; returns `false` at end of input.
    public func next(into record: CSVRecord) throws -> Bool {
        while true {
            if start >= end {
                guard try refill() else { return false }
                continue
            }
            let p = buf.assumingMemoryBound(to: UInt8.self)
            let first = p[start]
            if first == 0x0A { start += 1; line += 1; continue }
            if first == 0x0D {
                if start + 1 < end { start += p[start + 1] == 0x0A ? 2 : 1; line += 1; continue }
                if try !refill() { start += 1 }
                continue
            }
            if let comment, first == comment {
                if let nl = memchr(p + start, 0x0A, end - start) {
                    start = UnsafeMutablePointer<UInt8>(nl.assumingMemoryBound(to: UInt8.self)) - p + 1
                    line += 1
                    continue
                }
                if try !refill() { start = end }
                continue
            }
            switch try parse(p, atEOF: eof, into: record) {
            case .complete(let next, let newlines):
                start = next
                line += newlines
                return true
            case .incomplete:
                if try !refill() {
                    // End of input: what is left is the last record.
                    guard case .complete(let next, let newlines) = try parse(buf.assumingMemoryBound(to: UInt8.self), atEOF: true, into: record) else {
                        return false
                    }
                    start = next
                    line += newlines
                    return true
                }
            }
        }
    }

    /// Parses one record starting at `start`. Returns `.incomplete` when the buffer ends inside
    /// the record and more input may follow.
    private func parse(_ p: UnsafeMutablePointer<UInt8>, atEOF: Bool, into r: CSVRecord) throws -> Scan {
        let quote = UInt8(ascii: "\""), delim = delimiter, end = self.end
        let s = scratch.assumingMemoryBound(to: UInt8.self)
        var sLen = 0
        r.reset(line: line)
        var i = start
        var newlines = 0
        // Bit k: whether p[window + k] ends an unquoted field (`reckon_csv_stops`), made when a
        // field reaches past the window: one pass over 64 bytes instead of a test and a branch per
        // byte (the branch mispredicted at every field's end).
        var window = start &- 64, stopMask: UInt64 = 0
        func fail(_ message: String) -> ReckonError {
            ReckonError(.badData, message, at: SourcePosition(file: stream.path, line: line + newlines))
        }
        while true {
            if i < end && p[i] == quote {
                // Quoted field: copy the segments between quotes into scratch; "" is one quote.
                i += 1
                let fieldStart = sLen
                var segment = i
                while true {
                    guard let q = memchr(p + i, Int32(quote), end - i) else {
                        if !atEOF { return .incomplete }
                        throw ReckonError(.badData, "unterminated quoted field (the file ends inside quotes)",
                                          at: SourcePosition(file: stream.path, line: r.line))
                    }
                    let qi = UnsafeMutablePointer<UInt8>(q.assumingMemoryBound(to: UInt8.self)) - p
                    (s + sLen).update(from: p + segment, count: qi - segment)
                    sLen += qi - segment
                    for k in segment..<qi where p[k] == 0x0A { newlines += 1 }
                    i = qi + 1
                    if i < end && p[i] == quote { s[sLen] = quote; sLen += 1; i += 1; segment = i; continue }
                    if i >= end && !atEOF { return .incomplete }
                    break
                }
                r.append(UnsafeRawBufferPointer(start: s + fieldStart, count: sLen - fieldStart), quoted: true)
                if i >= end { return .complete(i, newlines: newlines + 1) }
                let c = p[i]
                if c == delim { i += 1; continue }
                if c == 0x0A { return .complete(i + 1, newlines: newlines + 1) }
                if c == 0x0D {
                    if i + 1 < end { if p[i + 1] == 0x0A { return .complete(i + 2, newlines: newlines + 1) } }
                    else if !atEOF { return .incomplete }
                    else { return .complete(i + 1, newlines: newlines + 1) }
                    throw fail("carriage return not followed by a line feed")
                }
                throw fail("text after a closing quote in field \(r.count)")
            }
            // Unquoted field: handed out in place. Its end is the next stop byte of the window.
            let fieldStart = i
            while true {
                if i &- window >= 64 {
                    window = i
                    stopMask = reckon_csv_stops(p + i, min(64, end - i), delim)
                }
                let ahead = stopMask &>> UInt64(i &- window)
                if ahead != 0 { i &+= ahead.trailingZeroBitCount; break }
                i = min(window &+ 64, end)
                if i == end { break }
            }
            if i < end && p[i] == quote { throw fail("quote inside an unquoted field \(r.count + 1)") }
            if i >= end && !atEOF { return .incomplete }
            r.append(UnsafeRawBufferPointer(start: p + fieldStart, count: i - fieldStart), quoted: false)
            if i >= end { return .complete(i, newlines: newlines + 1) }
            let c = p[i]
            if c == delim { i += 1; continue }
            if c == 0x0A { return .complete(i + 1, newlines: newlines + 1) }
            // c == CR
            if i + 1 < end {
                if p[i + 1] == 0x0A { return .complete(i + 2, newlines: newlines + 1) }
                throw fail("carriage return not followed by a line feed")
            }
            if !atEOF { return .incomplete }
            return .complete(i + 1, newlines: newlines + 1)
        }
    }
}

/// Writes RFC 4180 CSV: fields quoted only when they hold the delimiter, a quote, CR or LF (or are
/// empty strings, which must not read back as nulls); a null is an empty unquoted field; LF line ends.
public enum CSVWriter {
    public static func appendField(_ value: String?, into out: inout String) {
        guard let value else { return }
        if value.isEmpty { out += "\"\""; return }
        var needsQuotes = false
        for u in value.utf8 where u == UInt8(ascii: ",") || u == UInt8(ascii: "\"") || u == 0x0A || u == 0x0D {
            needsQuotes = true
            break
        }
        if !needsQuotes { out += value; return }
        out += "\""
        for ch in value.unicodeScalars {
            if ch == "\"" { out += "\"\"" } else { out.unicodeScalars.append(ch) }
        }
        out += "\""
    }

    public static func line(_ fields: [String?]) -> String {
        var out = ""
        for (k, f) in fields.enumerated() {
            if k > 0 { out += "," }
            appendField(f, into: &out)
        }
        out += "\n"
        return out
    }
}

/// The small, hand-edited CSV configuration files of an input folder (`plans.csv`, `taxes.csv`,
/// `budgets.csv`, …): a required header row, `#` comment lines, one record per line.
public enum ConfigFile {
    /// The records of `path` after its header, each with its line number and its fields (trimmed;
    /// empty for an empty field); `[]` when the file does not exist.
    /// - Throws: `.badData` naming the file when the header is not `header`, or naming the line
    ///   when a record has another number of fields.
    public static func rows(_ path: String, header: [String]) throws -> [(line: Int, fields: [String])] {
        guard FileSystem.exists(path) else { return [] }
        let reader = CSVReader(stream: try ByteStream(path: path), comment: UInt8(ascii: "#"))
        let r = CSVRecord()
        guard try reader.next(into: r), (0..<r.count).map({ (r.string($0) ?? "").trimmed }) == header else {
            throw ReckonError(.badData, "\(FileSystem.lastComponent(of: path)) must start with the header \(header.joined(separator: ","))",
                              at: SourcePosition(file: path, line: 1))
        }
        var out: [(line: Int, fields: [String])] = []
        while try reader.next(into: r) {
            guard r.count == header.count else {
                throw ReckonError(.badData, "expected \(header.count) fields (\(header.joined(separator: ","))), found \(r.count)",
                                  at: SourcePosition(file: path, line: r.line))
            }
            out.append((r.line, (0..<r.count).map { (r.string($0) ?? "").trimmed }))
        }
        return out
    }
}
