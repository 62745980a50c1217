#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One CSV record: its fields' bytes, kept in one buffer that the reader reuses.
public struct CSVRecord {
    public fileprivate(set) var bytes: [UInt8] = []
    public fileprivate(set) var ends: [Int] = []
    /// Whether each field was quoted (a quoted empty field is an empty string, not a null).
    public fileprivate(set) var quoted: [Bool] = []
    /// The 1-based line on which the record starts.
    public fileprivate(set) var line = 0

    public init() {}

    public var count: Int { ends.count }

    public func withField<R>(_ k: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let start = k == 0 ? 0 : ends[k - 1]
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<ends[k]])) }
    }

    /// The field as a String; `nil` if it is not valid UTF-8.
    public func string(_ k: Int) -> String? {
        withField(k) { String(validating: $0, as: UTF8.self) }
    }

    public func isEmpty(_ k: Int) -> Bool {
        (k == 0 ? 0 : ends[k - 1]) == ends[k]
    }

    /// The record's fields as they would be written back (for quarantine entries).
    public var rawText: String {
        (0..<count).map { k in
            let s = withField(k) { String(decoding: $0, as: UTF8.self) }
            var out = ""
            CSVWriter.appendField(s, into: &out)
            return out
        }.joined(separator: ",")
    }

    fileprivate mutating func reset(line: Int) {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        quoted.removeAll(keepingCapacity: true)
        self.line = line
    }
}

/// A streaming RFC 4180 reader over bytes: quoted fields with embedded delimiters, newlines and
/// doubled quotes; LF or CRLF; a leading UTF-8 BOM is skipped; configurable delimiter; optional
/// comment lines (a line whose first byte is the comment byte, outside quotes); blank lines skipped.
///
/// Errors (`ReckonError.badData`) name the file and line: an unterminated quote, a quote inside an
/// unquoted field, text after a closing quote, a lone carriage return.
///
/// The scanner works on one contiguous buffer: unquoted fields are found with a tight byte loop,
/// quoted ones with `memchr`; a record cut by a chunk boundary is rescanned once the next chunk is in.
/// - Memory: the stream's buffers plus a buffer of one chunk plus the longest record.
public final class CSVReader {
    public let stream: ByteStream
    public let delimiter: UInt8
    public let comment: UInt8?
    private var buf: [UInt8] = []
    private var pos = 0
    private var eof = false
    private var line = 1
    private var atFileStart = true

    public init(stream: ByteStream, delimiter: UInt8 = UInt8(ascii: ","), comment: UInt8? = nil) {
        self.stream = stream
        self.delimiter = delimiter
        self.comment = comment
        buf.reserveCapacity(ByteStream.chunkSize * 2)
    }

    /// Appends the next chunk to the buffer (dropping consumed bytes first); `false` at end of input.
    private func refill() throws -> Bool {
        if eof { return false }
        if pos > 0 {
            buf.removeSubrange(0..<pos)
            pos = 0
        }
        let got: Void? = try stream.next { chunk in buf.append(contentsOf: chunk) }
        if got == nil { eof = true; return false }
        if atFileStart {
            atFileStart = false
            if buf.count >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF { pos = 3 }
        }
        return true
    }

    private enum Scan { case complete(Int, newlines: Int), incomplete }

    /// Reads the next record into `record`; returns `false` at end of input.
    public func next(into record: inout CSVRecord) throws -> Bool {
        while true {
            if pos >= buf.count {
                guard try refill() else { return false }
                continue
            }
            let first = buf[pos]
            if first == 0x0A { pos += 1; line += 1; continue }
            if first == 0x0D {
                if pos + 1 < buf.count { pos += buf[pos + 1] == 0x0A ? 2 : 1; line += 1; continue }
                if try !refill() { pos += 1; continue }
                continue
            }
            if let comment, first == comment {
                if let nl = buf[pos...].firstIndex(of: 0x0A) { pos = nl + 1; line += 1; continue }
                if try !refill() { pos = buf.count }
                continue
            }
            let scan = try buf.withUnsafeBufferPointer { p in
                try parse(p.baseAddress!, from: pos, to: p.count, atEOF: eof, into: &record)
            }
            switch scan {
            case .complete(let end, let newlines):
                pos = end
                line += newlines
                return true
            case .incomplete:
                if try !refill() {
                    // End of input: parse what is left as the last record.
                    let last = try buf.withUnsafeBufferPointer { p in
                        try parse(p.baseAddress!, from: pos, to: p.count, atEOF: true, into: &record)
                    }
                    guard case .complete(let end, let newlines) = last else { return false }
                    pos = end
                    line += newlines
                    return true
                }
            }
        }
    }

    /// Parses one record starting at `start`. Returns `.incomplete` when the buffer ends inside
    /// the record and more input may follow.
    private func parse(_ p: UnsafePointer<UInt8>, from start: Int, to end: Int, atEOF: Bool,
                       into r: inout CSVRecord) throws -> Scan {
        let quote = UInt8(ascii: "\""), delim = delimiter
        r.reset(line: line)
        var i = start
        var newlines = 0
        func fail(_ message: String) -> ReckonError {
            ReckonError(.badData, message, at: SourcePosition(file: stream.path, line: line + newlines))
        }
        while true {
            if i < end && p[i] == quote {
                // Quoted field: copy segments between quotes; "" is one quote.
                i += 1
                var segment = i
                while true {
                    guard let q = memchr(p + i, Int32(quote), end - i) else {
                        if !atEOF { return .incomplete }
                        throw ReckonError(.badData, "unterminated quoted field (the file ends inside quotes)",
                                          at: SourcePosition(file: stream.path, line: r.line))
                    }
                    let qi = UnsafePointer<UInt8>(q.assumingMemoryBound(to: UInt8.self)) - p
                    r.bytes.append(contentsOf: UnsafeBufferPointer(start: p + segment, count: qi - segment))
                    for k in segment..<qi where p[k] == 0x0A { newlines += 1 }
                    i = qi + 1
                    if i < end && p[i] == quote { r.bytes.append(quote); i += 1; segment = i; continue }
                    if i >= end && !atEOF { return .incomplete }
                    break
                }
                r.ends.append(r.bytes.count)
                r.quoted.append(true)
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
                throw fail("text after a closing quote in field \(r.ends.count)")
            }
            // Unquoted field.
            let fieldStart = i
            while i < end {
                let c = p[i]
                if c == delim || c == 0x0A || c == 0x0D || c == quote { break }
                i += 1
            }
            if i < end && p[i] == quote { throw fail("quote inside an unquoted field \(r.ends.count + 1)") }
            if i >= end && !atEOF { return .incomplete }
            r.bytes.append(contentsOf: UnsafeBufferPointer(start: p + fieldStart, count: i - fieldStart))
            r.ends.append(r.bytes.count)
            r.quoted.append(false)
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
