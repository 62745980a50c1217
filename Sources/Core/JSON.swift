/// A parsed JSON value. Numbers keep their source text, so amounts stay exact: read them with
/// `decimal`, never through a binary floating-point type.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's text exactly as written (`0.0000000375`, `12`, `1e-7`).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order (duplicate keys are rejected by the parser).
    case object([(key: String, value: JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// The member named `key` of an object; `nil` if absent or not an object. - Complexity: O(members).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }

    /// A number, or a string holding a number (some APIs send `"12.50"`), as an exact decimal.
    public var decimal: ExactDecimal? {
        switch self {
        case .number(let t), .string(let t): return ExactDecimal(t)
        default: return nil
        }
    }
}

/// A JSON syntax error at a byte offset of the parsed text.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var byteOffset: Int
    public var description: String { "\(message) at byte \(byteOffset)" }
}

/// A strict RFC 8259 parser over bytes: UTF-8 validated, depth-limited, duplicate keys rejected.
///
/// - Complexity: O(n) time; memory proportional to the parsed value.
public struct JSONParser {
    public static let maxDepth = 256

    /// Parses exactly one JSON value (surrounding whitespace allowed).
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
        var p = JSONParser(bytes: bytes)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        if p.i != bytes.count { throw p.error("unexpected data after the JSON value") }
        return v
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var result: Result<JSONValue, JSONSyntaxError> = .success(.null)
        bytes.withUnsafeBytes { buf in
            result = Result { () throws(JSONSyntaxError) in try parse(buf) }
        }
        return try result.get()
    }

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    private let b: UnsafeRawBufferPointer
    private var i = 0

    private init(bytes: UnsafeRawBufferPointer) { b = bytes }

    private func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, byteOffset: i) }

    private mutating func skipWhitespace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    private mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth < Self.maxDepth else { throw error("JSON nested deeper than \(Self.maxDepth) levels") }
        guard i < b.count else { throw error("unexpected end of JSON") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(key: String, value: JSONValue)] = []
            var keys = Set<String>()
            skipWhitespace()
            if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let keyStart = i
                let key = try string()
                guard keys.insert(key).inserted else {
                    i = keyStart
                    throw error("duplicate key \"\(key)\"")
                }
                skipWhitespace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard i < b.count else { throw error("unexpected end of JSON in an object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard i < b.count else { throw error("unexpected end of JSON in an array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return .number(try number())
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw error("invalid literal") }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw error("invalid literal") }
        i += n
    }

    private mutating func number() throws(JSONSyntaxError) -> String {
        let start = i
        if i < b.count && b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, isDigit(b[i]) else { throw error("invalid value") }
        if b[i] == UInt8(ascii: "0") { i += 1 } else { while i < b.count && isDigit(b[i]) { i += 1 } }
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            guard i < b.count, isDigit(b[i]) else { throw error("invalid number") }
            while i < b.count && isDigit(b[i]) { i += 1 }
        }
        if i < b.count && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            i += 1
            if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < b.count, isDigit(b[i]) else { throw error("invalid number") }
            while i < b.count && isDigit(b[i]) { i += 1 }
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
    }

    @inline(__always) private func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    private mutating func string() throws(JSONSyntaxError) -> String {
        i += 1  // opening quote
        let start = i
        // Fast path: no escapes.
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: b[start..<i])
                guard let s = String(validating: slice, as: UTF8.self) else {
                    i = start
                    throw error("invalid UTF-8 in a string")
                }
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character in a string") }
            i += 1
        }
        var out = Array(b[start..<i])
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else {
                    throw error("invalid UTF-8 in a string")
                }
                return s
            }
            if c < 0x20 { throw error("control character in a string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { break }
            switch b[i] {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 2 < b.count, b[i + 1] == UInt8(ascii: "\\"), b[i + 2] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("unpaired surrogate")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default:
                throw error("invalid escape")
            }
            i += 1
        }
        throw error("unterminated string")
    }

    /// Reads the 4 hex digits after `\u`; leaves `i` on the last one.
    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard i + 4 < b.count else { throw error("invalid \\u escape") }
        var v: UInt32 = 0
        for k in 1...4 {
            let c = b[i + k]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | d
        }
        i += 4
        return v
    }
}

/// Writes JSON deterministically: members in the order given, no insignificant whitespace unless
/// `pretty`, strings escaped minimally (`"`, `\`, control characters).
public enum JSONWriter {
    /// The JSON text of `value` (compact, or indented by two spaces when `pretty`).
    /// - Complexity: O(output bytes); written as bytes (a `String` grown by `+=` per piece and
    ///   per escaped character cost ~350 instructions a character, measured with callgrind).
    public static func write(_ value: JSONValue, pretty: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(value, into: &out, pretty: pretty, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the JSON text of `value` to `out`.
    public static func write(_ value: JSONValue, into out: inout [UInt8], pretty: Bool = false, indent: Int = 0) {
        func newline(_ level: Int) {
            out.append(0x0A)
            for _ in 0..<(2 * level) { out.append(0x20) }
        }
        switch value {
        case .null: out.append(ascii: "null")
        case .bool(let b): if b { out.append(ascii: "true") } else { out.append(ascii: "false") }
        case .number(let n): out.append(utf8: n)
        case .string(let s): out.appendJSONString(s)
        case .array(let items):
            if items.isEmpty { out.append(ascii: "[]"); return }
            out.append(0x5B)
            for (k, item) in items.enumerated() {
                if k > 0 { out.append(0x2C) }
                if pretty { newline(indent + 1) }
                write(item, into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { newline(indent) }
            out.append(0x5D)
        case .object(let members):
            if members.isEmpty { out.append(ascii: "{}"); return }
            out.append(0x7B)
            for (k, m) in members.enumerated() {
                if k > 0 { out.append(0x2C) }
                if pretty { newline(indent + 1) }
                out.appendJSONString(m.key)
                if pretty { out.append(ascii: ": ") } else { out.append(0x3A) }
                write(m.value, into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { newline(indent) }
            out.append(0x7D)
        }
    }
}

extension JSONValue {
    /// A decimal as a JSON number (its exact FOCUS text).
    public static func decimal(_ d: ExactDecimal) -> JSONValue { .number(d.description) }
    /// An optional string as a JSON string or `null`.
    public static func optional(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
}
