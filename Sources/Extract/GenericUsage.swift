import ReckonCore

/// The Reckon generic usage format (CSV or JSONL), the input any gateway or log pipeline can write.
/// One record is one request or one aggregated bucket; the field names are in `Field.allCases`
/// and documented in the README. Absent numeric fields mean 0; unknown fields are ignored.
///
/// Both readers work on bytes: strings are made only for the fields kept, and low-cardinality
/// ones (provider, account, model, tier, tag keys and values) are interned.
/// - Memory: one chunk, one record, the interned strings (capped).
public enum GenericUsage {
    public static let kindCSV = "reckon.generic.csv"
    public static let kindJSONL = "reckon.generic.jsonl"

    enum Field: String, CaseIterable {
        case timestamp, periodStart = "period_start", periodEnd = "period_end", provider
        case billingAccount = "billing_account", subAccount = "sub_account", model
        case inputTokens = "input_tokens", outputTokens = "output_tokens", cacheReadTokens = "cache_read_tokens"
        case cacheWrite5mTokens = "cache_write_5m_tokens", cacheWrite1hTokens = "cache_write_1h_tokens"
        case webSearchRequests = "web_search_requests", codeExecutionHours = "code_execution_hours"
        case sessionHours = "session_hours", requests
        case batch, serviceTier = "service_tier", requestId = "request_id", executionId = "execution_id"
        case spanId = "span_id", parentSpanId = "parent_span_id", agent, tags

        /// The canonical meter a numeric field feeds, and whether it must be a whole number.
        var meter: (id: String, whole: Bool)? {
            switch self {
            case .inputTokens: return ("tokens_input", true)
            case .outputTokens: return ("tokens_output", true)
            case .cacheReadTokens: return ("tokens_cache_read", true)
            case .cacheWrite5mTokens: return ("tokens_cache_write_5m", true)
            case .cacheWrite1hTokens: return ("tokens_cache_write_1h", true)
            case .webSearchRequests: return ("web_search_requests", true)
            case .codeExecutionHours: return ("code_execution_hours", false)
            case .sessionHours: return ("managed_agent_session_runtime", false)
            case .requests: return ("requests", true)
            default: return nil
            }
        }

        static let byName: [String: Field] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })
        static let byHash: [UInt64: Field] = Dictionary(uniqueKeysWithValues: allCases.map { f in
            var name = f.rawValue
            return (name.withUTF8 { fnv1a(UnsafeRawBufferPointer($0)) }, f)
        })

        /// The field named by `bytes`, without making a String.
        static func lookup(_ bytes: UnsafeRawBufferPointer) -> Field? {
            guard let f = byHash[fnv1a(bytes)], f.rawValue.utf8.elementsEqual(bytes) else { return nil }
            return f
        }
        static let meterFields: [Field] = allCases.filter { $0.meter != nil }
        var meterSlot: Int { Field.meterFields.firstIndex(of: self)! }
    }
}

/// Strings for repeated byte sequences (model names, account ids, tag values), so that a million
/// rows of the same model make one String, not a million. Holds at most `capacity` entries.
final class StringInterner {
    private var table: [UInt64: String] = [:]
    private let capacity: Int

    init(capacity: Int = 8192) { self.capacity = capacity }

    /// The string for `bytes`, or `nil` if they are not valid UTF-8.
    func string(_ bytes: UnsafeRawBufferPointer) -> String? {
        let h = fnv1a(bytes)
        if let s = table[h], s.utf8.elementsEqual(bytes) { return s }
        guard let s = String(validating: bytes, as: UTF8.self) else { return nil }
        if table.count < capacity { table[h] = s }
        return s
    }
}

/// FNV-1a, 64 bits: a fast non-cryptographic hash of bytes (interning keys, duplicate detection).
@inline(__always)
func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xcbf29ce484222325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
    return h
}

/// Collects one generic record's fields, then validates them into a `UsageRecord`.
struct GenericRecordBuilder {
    var strings: [GenericUsage.Field: String] = [:]
    var quantities: [ExactDecimal?] = Array(repeating: nil, count: GenericUsage.Field.meterFields.count)
    var timestamp: Timestamp?
    var periodStart: Timestamp?
    var periodEnd: Timestamp?
    var batch: Bool?
    var tags: [(key: String, value: String)] = []
    var problem: String?

    mutating func reset() {
        strings.removeAll(keepingCapacity: true)
        for k in quantities.indices { quantities[k] = nil }
        timestamp = nil; periodStart = nil; periodEnd = nil; batch = nil
        tags.removeAll(keepingCapacity: true)
        problem = nil
    }

    /// Sets a field from its text (already unquoted/unescaped). Empty text means absent.
    mutating func set(_ field: GenericUsage.Field, _ v: UnsafeRawBufferPointer, interner: StringInterner) {
        guard problem == nil, !v.isEmpty else { return }
        switch field {
        case .timestamp, .periodStart, .periodEnd:
            guard let t = Timestamp(rfc3339: v) else {
                problem = "\(field.rawValue) is not an RFC 3339 date-time: \"\(String(decoding: v, as: UTF8.self))\""
                return
            }
            if field == .timestamp { timestamp = t } else if field == .periodStart { periodStart = t } else { periodEnd = t }
        case .batch:
            switch String(decoding: v, as: UTF8.self).lowercased() {
            case "true", "1": batch = true
            case "false", "0": batch = false
            default: problem = "batch must be true or false: \"\(String(decoding: v, as: UTF8.self))\""
            }
        case .tags:
            problem = "tags must be a JSON object of strings"
        default:
            if let (meter, whole) = field.meter {
                guard let q = ExactDecimal(utf8: v) else {
                    problem = "\(field.rawValue) is not a number: \"\(String(decoding: v, as: UTF8.self))\""
                    return
                }
                if q.isNegative { problem = "\(field.rawValue) is negative: \(q)"; return }
                if whole && q.normalized.scale != 0 { problem = "\(field.rawValue) is not a whole number: \(q)"; return }
                _ = meter
                quantities[field.meterSlot] = q
                return
            }
            guard let s = interner.string(v) else { problem = "\(field.rawValue) is not valid UTF-8"; return }
            strings[field] = s
        }
    }

    mutating func addTag(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, interner: StringInterner) {
        guard problem == nil else { return }
        guard let k = interner.string(key), let v = interner.string(value) else { problem = "tag is not valid UTF-8"; return }
        guard !v.isEmpty else { return }
        tags.append((Self.normalizeTagKey(k), v))
    }

    /// Tag keys are lower-cased, with spaces and dashes turned into underscores (`Team Name` → `team_name`).
    static func normalizeTagKey(_ k: String) -> String {
        var out = ""
        for ch in k.unicodeScalars {
            if ch == " " || ch == "-" { out += "_" } else { out.unicodeScalars.append(ch) }
        }
        return out.lowercased()
    }

    /// The record, or the reason it is quarantined.
    func finish(source: SourcePosition, defaults: [String: String]) -> Result<UsageRecord, QuarantineReason> {
        if let problem { return .failure(QuarantineReason(problem)) }
        func need(_ f: GenericUsage.Field, _ hive: String) -> String? { strings[f] ?? defaults[hive] }
        guard let provider = need(.provider, "provider") else { return .failure("provider is missing") }
        guard let account = need(.billingAccount, "billing_account") else { return .failure("billing_account is missing") }
        guard let model = strings[.model] else { return .failure("model is missing") }
        let start: Timestamp, end: Timestamp
        if let t = timestamp {
            start = t; end = t
        } else if let s = periodStart, let e = periodEnd {
            guard s < e else { return .failure("period_start must be before period_end") }
            start = s; end = e
        } else {
            return .failure("timestamp (or period_start and period_end) is missing")
        }
        var q: [(meter: String, quantity: ExactDecimal)] = []
        for (slot, f) in GenericUsage.Field.meterFields.enumerated() {
            if let v = quantities[slot], !v.isZero { q.append((f.meter!.id, v)) }
        }
        let tier = strings[.serviceTier]?.lowercased() ?? (batch == true ? "batch" : "standard")
        var r = UsageRecord(provider: provider.lowercased(), billingAccountId: account, subAccountId: strings[.subAccount],
                            model: model, periodStart: start, periodEnd: end, serviceTier: tier,
                            quantities: q, tags: tags.sorted { $0.key < $1.key }, source: source)
        r.requestId = strings[.requestId]
        r.executionId = strings[.executionId]
        r.spanId = strings[.spanId]
        r.parentSpanId = strings[.parentSpanId]
        r.agent = strings[.agent]
        return .success(r)
    }
}

/// Why a record was quarantined.
struct QuarantineReason: Error, ExpressibleByStringLiteral {
    var message: String
    init(_ message: String) { self.message = message }
    init(stringLiteral value: String) { message = value }
}

// MARK: - CSV

extension GenericUsage {
    /// Reads a generic-format CSV file. The header names the fields; `tag.<key>` columns are tags.
    /// A row with the wrong number of fields, or a field that does not parse, is quarantined;
    /// a broken file structure (unterminated quote) stops the file with its line.
    static func readCSV(_ stream: ByteStream, file: String, defaults: [String: String], interner: StringInterner,
                        emit: (UsageRecord) throws -> Bool, quarantine: (QuarantineEntry) throws -> Void,
                        progress counts: inout RowCounts) throws -> RowCounts {
        let reader = CSVReader(stream: stream)
        var record = CSVRecord()
        guard try reader.next(into: &record) else { return counts }
        var columns: [Field?] = []
        var tagKeys: [String?] = []
        var seen = Set<String>()
        for k in 0..<record.count {
            guard let name = record.string(k)?.trimmed else {
                throw ReckonError(.badData, "header field \(k + 1) is not valid UTF-8", at: SourcePosition(file: file, line: 1))
            }
            guard seen.insert(name).inserted else {
                throw ReckonError(.badData, "column \"\(name)\" appears twice in the header", at: SourcePosition(file: file, line: 1))
            }
            if name.hasPrefix("tag.") && name.count > 4 {
                columns.append(nil); tagKeys.append(String(name.dropFirst(4)))
            } else {
                columns.append(Field.byName[name]); tagKeys.append(nil)
            }
        }
        let width = record.count
        var builder = GenericRecordBuilder()
        while try reader.next(into: &record) {
            counts.rowsRead += 1
            let at = SourcePosition(file: file, line: record.line)
            guard record.count == width else {
                counts.rowsQuarantined += 1
                try quarantine(QuarantineEntry(stage: "extract", position: at,
                                               reason: "expected \(width) fields, found \(record.count)", raw: record.rawText))
                continue
            }
            builder.reset()
            for k in 0..<width {
                if let f = columns[k] {
                    record.withField(k) { builder.set(f, $0, interner: interner) }
                } else if let key = tagKeys[k] {
                    record.withField(k) { v in key.utf8.withContiguousStorageIfAvailable { kb in
                        builder.addTag(UnsafeRawBufferPointer(kb), v, interner: interner)
                    } }
                }
            }
            switch builder.finish(source: at, defaults: defaults) {
            case .success(let r):
                if try emit(r) { counts.rowsOut += 1 } else { counts.rowsQuarantined += 1 }
            case .failure(let reason):
                counts.rowsQuarantined += 1
                try quarantine(QuarantineEntry(stage: "extract", position: at, reason: reason.message, raw: record.rawText))
            }
        }
        return counts
    }
}

// MARK: - JSONL

extension GenericUsage {
    /// Reads a generic-format JSONL file: one flat JSON object per line (`tags` may be an object
    /// of scalars). A line that is not such an object is quarantined with its line and column.
    static func readJSONL(_ stream: ByteStream, file: String, defaults: [String: String], interner: StringInterner,
                          emit: (UsageRecord) throws -> Bool, quarantine: (QuarantineEntry) throws -> Void,
                        progress counts: inout RowCounts) throws -> RowCounts {
        let lines = LineReader(stream: stream)
        var builder = GenericRecordBuilder()
        while let outcome = try lines.next({ line -> (Result<UsageRecord, QuarantineReason>, String?)? in
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
            builder.reset()
            var scanner = FlatJSONScanner(line)
            defer { scanner.release() }
            do {
                try scanner.scanObject { key, value in
                    guard let field = Field.lookup(key) else { return }
                    switch value {
                    case .null: break
                    case .object(let members):
                        guard field == .tags else { throw QuarantineReason("\(field.rawValue) must not be an object") }
                        for (k, v) in members { builder.addTag(k, v, interner: interner) }
                    case .text(let bytes):
                        if field.meter != nil { throw QuarantineReason("\(field.rawValue) must be a number, not a string") }
                        builder.set(field, bytes, interner: interner)
                    case .number(let bytes):
                        if field.meter == nil { throw QuarantineReason("\(field.rawValue) must not be a number") }
                        builder.set(field, bytes, interner: interner)
                    case .bool(let b):
                        guard field == .batch else { throw QuarantineReason("\(field.rawValue) must not be true/false") }
                        builder.batch = b
                    }
                }
            } catch let reason as QuarantineReason {
                return (.failure(reason), String(decoding: line, as: UTF8.self))
            }
            let result = builder.finish(source: SourcePosition(file: file, line: lines.lineNumber), defaults: defaults)
            return (result, result.isSuccess ? nil : String(decoding: line, as: UTF8.self))
        }) {
            guard let (result, raw) = outcome else { continue }
            counts.rowsRead += 1
            switch result {
            case .success(let r):
                if try emit(r) { counts.rowsOut += 1 } else { counts.rowsQuarantined += 1 }
            case .failure(let reason):
                counts.rowsQuarantined += 1
                try quarantine(QuarantineEntry(stage: "extract", position: SourcePosition(file: file, line: lines.lineNumber),
                                               reason: reason.message, raw: raw))
            }
        }
        return counts
    }
}

extension Result {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
}

/// A scanner for one flat JSON object on one line: string, number, true/false/null values, and
/// one level of nested object of scalars (for tags). Strings without escapes are handed out as
/// the bytes between the quotes; strings with escapes are decoded into a scratch buffer.
struct FlatJSONScanner {
    enum Value {
        case text(UnsafeRawBufferPointer)
        case number(UnsafeRawBufferPointer)
        case bool(Bool)
        case null
        case object([(UnsafeRawBufferPointer, UnsafeRawBufferPointer)])
    }

    let b: UnsafeRawBufferPointer
    var i = 0
    /// Decoded strings with escapes (and tag booleans) live here until `release()`.
    var scratch: [UnsafeMutableRawBufferPointer] = []

    /// Frees the scratch strings; call when the line's values are no longer used.
    mutating func release() {
        for p in scratch { p.deallocate() }
        scratch.removeAll()
    }

    mutating func keep(_ bytes: some Collection<UInt8>) -> UnsafeRawBufferPointer {
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        p.copyBytes(from: bytes)
        scratch.append(p)
        return UnsafeRawBufferPointer(rebasing: p[0..<bytes.count])
    }

    init(_ bytes: UnsafeRawBufferPointer) { b = bytes }

    func fail(_ what: String) -> QuarantineReason { QuarantineReason("not a flat JSON object: \(what) at column \(i + 1)") }

    mutating func ws() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0D { i += 1 } }

    mutating func scanObject(_ onField: (UnsafeRawBufferPointer, Value) throws -> Void) throws {
        ws()
        guard i < b.count, b[i] == UInt8(ascii: "{") else { throw fail("expected '{'") }
        i += 1
        ws()
        if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return try end() }
        var seen = Set<UInt64>()
        while true {
            ws()
            let key = try string()
            guard seen.insert(fnv1a(key)).inserted else { throw fail("duplicate key \"\(String(decoding: key, as: UTF8.self))\"") }
            ws()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            ws()
            try onField(key, try value(nested: true))
            ws()
            guard i < b.count else { throw fail("unexpected end of line") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return try end() }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func end() throws {
        ws()
        if i != b.count { throw fail("unexpected data after the object") }
    }

    mutating func value(nested: Bool) throws -> Value {
        guard i < b.count else { throw fail("missing value") }
        switch b[i] {
        case UInt8(ascii: "\""): return .text(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "{"):
            guard nested else { throw fail("objects nested more than one level") }
            i += 1
            var members: [(UnsafeRawBufferPointer, UnsafeRawBufferPointer)] = []
            ws()
            if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                ws()
                let k = try string()
                ws()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                ws()
                switch try value(nested: false) {
                case .text(let v), .number(let v): members.append((k, v))
                case .bool(let v): members.append((k, keep((v ? "true" : "false").utf8)))
                case .null: break
                case .object: throw fail("objects nested more than one level")
                }
                ws()
                guard i < b.count else { throw fail("unexpected end of line") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["): throw fail("arrays are not allowed")
        default:
            let start = i
            while i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: ".")
                    || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") || (b[i] >= 48 && b[i] <= 57) { i += 1 }
            guard i > start else { throw fail("invalid value") }
            return .number(UnsafeRawBufferPointer(rebasing: b[start..<i]))
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw fail("invalid literal") }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw fail("invalid literal") }
        i += n
    }

    mutating func string() throws -> UnsafeRawBufferPointer {
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string") }
        i += 1
        let start = i
        var ascii = true
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let s = UnsafeRawBufferPointer(rebasing: b[start..<i])
                i += 1
                if !ascii && String(validating: s, as: UTF8.self) == nil { throw fail("invalid UTF-8 in a string") }
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail("control character in a string") }
            if c >= 0x80 { ascii = false }
            i += 1
        }
        guard i < b.count else { throw fail("unterminated string") }
        // Escapes: let the full parser decode this one string.
        var j = i
        while j < b.count {
            if b[j] == UInt8(ascii: "\\") { j += 2; continue }
            if b[j] == UInt8(ascii: "\"") { break }
            j += 1
        }
        guard j < b.count else { throw fail("unterminated string") }
        let literal = UnsafeRawBufferPointer(rebasing: b[(start - 1)...j])
        guard case .string(let s)? = try? JSONParser.parse(literal) else { throw fail("invalid string") }
        i = j + 1
        return keep(s.utf8)
    }
}
