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

    fileprivate mutating func reset(line: Int) {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        quoted.removeAll(keepingCapacity: true)
        self.line = line
    }
}

/// A streaming RFC 4180 reader over bytes: quoted fields with embedded delimiters, newlines and
/// doubled quotes; LF or CRLF; a leading UTF-8 BOM is skipped; configurable delimiter; optional
/// comment lines (a line whose first byte is the comment byte, outside quotes).
///
/// Errors (`ReckonError.badData`) name the file and line: an unterminated quote, a quote inside an
/// unquoted field, text after a closing quote.
///
/// - Memory: the stream's buffers plus the longest record.
public final class CSVReader {
    public let stream: ByteStream
    public let delimiter: UInt8
    public let comment: UInt8?
    private var chunk: [UInt8] = []
    private var pos = 0
    private var eof = false
    private var line = 1
    private var atFileStart = true

    public init(stream: ByteStream, delimiter: UInt8 = UInt8(ascii: ","), comment: UInt8? = nil) {
        self.stream = stream
        self.delimiter = delimiter
        self.comment = comment
    }

    private func refill() throws -> Bool {
        if eof { return false }
        let got: Void? = try stream.next { buf in
            chunk.removeAll(keepingCapacity: true)
            chunk.append(contentsOf: buf)
        }
        pos = 0
        if got == nil { eof = true; chunk.removeAll(); return false }
        if atFileStart {
            atFileStart = false
            if chunk.count >= 3 && chunk[0] == 0xEF && chunk[1] == 0xBB && chunk[2] == 0xBF { pos = 3 }
        }
        return true
    }

    @inline(__always)
    private func peek() throws -> UInt8? {
        if pos < chunk.count { return chunk[pos] }
        return try refill() && pos < chunk.count ? chunk[pos] : nil
    }

    /// Reads the next record into `record`; returns `false` at end of input. Blank lines are skipped.
    public func next(into record: inout CSVRecord) throws -> Bool {
        while true {
            guard let first = try peek() else { return false }
            if first == 0x0A { pos += 1; line += 1; continue }
            if first == 0x0D { pos += 1; continue }
            if let comment, first == comment {
                while let c = try peek() { pos += 1; if c == 0x0A { line += 1; break } }
                continue
            }
            break
        }
        record.reset(line: line)
        var fieldQuoted = false
        var afterQuote = false
        var inQuotes = false
        while true {
            guard let c = try peek() else {
                if inQuotes {
                    throw ReckonError(.badData, "unterminated quoted field (the file ends inside quotes)",
                                      at: SourcePosition(file: stream.path, line: record.line))
                }
                break
            }
            pos += 1
            if inQuotes {
                if c == UInt8(ascii: "\"") {
                    if try peek() == UInt8(ascii: "\"") { pos += 1; record.bytes.append(c) } else { inQuotes = false; afterQuote = true }
                } else {
                    if c == 0x0A { line += 1 }
                    record.bytes.append(c)
                }
                continue
            }
            if c == delimiter {
                record.ends.append(record.bytes.count); record.quoted.append(fieldQuoted)
                fieldQuoted = false; afterQuote = false
                continue
            }
            if c == 0x0A { line += 1; break }
            if c == 0x0D {
                if try peek() == 0x0A { pos += 1; line += 1; break }
                throw ReckonError(.badData, "carriage return not followed by a line feed",
                                  at: SourcePosition(file: stream.path, line: line))
            }
            if afterQuote {
                throw ReckonError(.badData, "text after a closing quote in field \(record.ends.count + 1)",
                                  at: SourcePosition(file: stream.path, line: line))
            }
            if c == UInt8(ascii: "\"") {
                let fieldStart = record.ends.last ?? 0
                guard record.bytes.count == fieldStart else {
                    throw ReckonError(.badData, "quote inside an unquoted field \(record.ends.count + 1)",
                                      at: SourcePosition(file: stream.path, line: line))
                }
                inQuotes = true; fieldQuoted = true
                continue
            }
            record.bytes.append(c)
        }
        record.ends.append(record.bytes.count); record.quoted.append(fieldQuoted)
        return true
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
