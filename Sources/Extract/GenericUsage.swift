#if canImport(Glibc)
@preconcurrency import Glibc
#endif
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
    /// The same, tab-separated (dashboards often export TSV).
    public static let kindTSV = "reckon.generic.tsv"
    public static let kindJSONL = "reckon.generic.jsonl"

    enum Field: Int, CaseIterable {
        case timestamp, periodStart, periodEnd, provider, billingAccount, subAccount, model
        // Meter fields: contiguous, in this order (see `meterSlot`).
        case inputTokens, outputTokens, cacheReadTokens, cacheWrite5mTokens, cacheWrite1hTokens
        case webSearchRequests, codeExecutionHours, sessionHours, datasetStorageMB, requests
        case batch, serviceTier, requestId, executionId, spanId, parentSpanId, agent, tags

        static let names = ["timestamp", "period_start", "period_end", "provider", "billing_account", "sub_account", "model",
                            "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
                            "web_search_requests", "code_execution_hours", "session_hours", "dataset_storage_mb", "requests",
                            "batch", "service_tier", "request_id", "execution_id", "span_id", "parent_span_id", "agent", "tags"]
        /// The field's name in files.
        var name: String { Self.names[rawValue] }
        static let meterCount = Field.requests.rawValue - Field.inputTokens.rawValue + 1
        /// Index among the meter fields.
        var meterSlot: Int { rawValue - Field.inputTokens.rawValue }

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
            case .datasetStorageMB: return ("dataset_storage", false)
            case .requests: return ("requests", true)
            default: return nil
            }
        }

        static let byName: [String: Field] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })
        /// FNV-1a of each field name → the field's raw value.
        static let byHash: HashIndex = {
            var index = HashIndex()
            for f in allCases {
                var name = f.name
                index.insert(name.withUTF8 { fnv1a(UnsafeRawBufferPointer($0)) }, Int32(f.rawValue))
            }
            return index
        }()

        /// How many fields there are (`allCases.count` builds the array of cases on every call).
        static let count = allCases.count
        /// Each field's name as bytes, in memory kept for the process's life: reading one costs no
        /// reference counting (an array of arrays cost a retain and a release per key compared).
        /// Written once, read only afterwards.
        nonisolated(unsafe) static let nameSpans: UnsafeBufferPointer<UnsafeRawBufferPointer> = {
            let spans = UnsafeMutableBufferPointer<UnsafeRawBufferPointer>.allocate(capacity: names.count)
            for (k, name) in names.enumerated() {
                let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: name.utf8.count, alignment: 1)
                bytes.copyBytes(from: name.utf8)
                spans[k] = UnsafeRawBufferPointer(bytes)
            }
            return UnsafeBufferPointer(spans)
        }()
        /// Whether this is one of the meter fields (`inputTokens` … `requests`).
        @inline(__always)
        var isMeter: Bool { rawValue >= Field.inputTokens.rawValue && rawValue <= Field.requests.rawValue }

        /// The field named by `bytes`, without making a String.
        static func lookup(_ bytes: UnsafeRawBufferPointer) -> Field? {
            guard let raw = byHash.find(fnv1a(bytes)), let f = Field(rawValue: Int(raw)), f.isNamed(bytes, in: nameSpans) else { return nil }
            return f
        }

        /// Whether `bytes` is this field's name (`spans`: `nameSpans`, which a hot loop reads once).
        @inline(__always)
        func isNamed(_ bytes: UnsafeRawBufferPointer, in spans: UnsafeBufferPointer<UnsafeRawBufferPointer>) -> Bool {
            let name = spans[rawValue]
            return name.count == bytes.count && (bytes.isEmpty || memcmp(name.baseAddress!, bytes.baseAddress!, bytes.count) == 0)
        }
        static let meterFields: [Field] = allCases.filter { $0.meter != nil }
        /// Per meter slot: whether its quantities must be whole numbers (looked up per field read).
        static let wholeBySlot: [Bool] = allCases.filter { $0.meter != nil }.map { $0.meter!.whole }
    }
}

/// FNV-1a of bytes (see `fnv1a64` in ReckonCore).
@inline(__always)
func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 { fnv1a64(bytes) }

/// Collects one generic record's fields as byte spans and validates them. The spans point into
/// the reader's buffer and are valid only until the next record. A class: the reader fills one
/// in place for every record and views of it are handed on without copying its arrays.
@usableFromInline
final class GenericRecordBuilder {
    /// Per field (raw value): its bytes; per meter slot: its quantity. Fixed-size storage owned
    /// here (freed in `deinit`): the reader writes a dozen of them per record, and an array's
    /// uniqueness check on every write showed in the profile.
    @usableFromInline let spans: UnsafeMutablePointer<UnsafeRawBufferPointer?>
    @usableFromInline let quantities: UnsafeMutablePointer<ExactDecimal?>
    var timestamp: Timestamp?
    var periodStart: Timestamp?
    var periodEnd: Timestamp?
    var batch: Bool?
    /// (JSON-encoded key with quotes, value bytes): both point into memory the reader keeps for
    /// the record's time (keys in a `ByteArena`), so a tag costs no reference counting.
    @usableFromInline var tags: [(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)] = []
    /// Tag keys that have no longer-lived home (see `addTag(ownKey:_:)`), emptied per record.
    private let recordKeys = ByteArena()
    var problem: String?

    init() {
        spans = .allocate(capacity: GenericUsage.Field.count)
        spans.initialize(repeating: nil, count: GenericUsage.Field.count)
        quantities = .allocate(capacity: GenericUsage.Field.meterCount)
        quantities.initialize(repeating: nil, count: GenericUsage.Field.meterCount)
    }

    deinit {
        spans.deallocate()
        quantities.deallocate()
    }

    func reset() {
        spans.update(repeating: nil, count: GenericUsage.Field.count)
        quantities.update(repeating: nil, count: GenericUsage.Field.meterCount)
        timestamp = nil; periodStart = nil; periodEnd = nil; batch = nil
        if !tags.isEmpty { tags.removeAll(keepingCapacity: true) }
        recordKeys.removeAll()
        problem = nil
    }

    /// Sets a field from its text (already unquoted/unescaped). Empty text means absent.
    func set(_ field: GenericUsage.Field, _ v: UnsafeRawBufferPointer) {
        guard problem == nil, !v.isEmpty else { return }
        switch field {
        case .timestamp, .periodStart, .periodEnd:
            guard let t = Timestamp(rfc3339: v) else {
                problem = "\(field.name) is not an RFC 3339 date-time: \"\(String(decoding: v, as: UTF8.self))\""
                return
            }
            if field == .timestamp { timestamp = t } else if field == .periodStart { periodStart = t } else { periodEnd = t }
        case .batch:
            if let b = Self.parseBool(v) { batch = b } else {
                problem = "batch must be true or false: \"\(String(decoding: v, as: UTF8.self))\""
            }
        case .tags:
            problem = "tags must be a JSON object of strings"
        default:
            if field.rawValue >= GenericUsage.Field.inputTokens.rawValue && field.rawValue <= GenericUsage.Field.requests.rawValue {
                let whole = GenericUsage.Field.wholeBySlot[field.meterSlot]
                guard let q = ExactDecimal(utf8: v) else {
                    problem = "\(field.name) is not a number: \"\(String(decoding: v, as: UTF8.self))\""
                    return
                }
                if q.isNegative { problem = "\(field.name) is negative: \(q)"; return }
                if whole && q.scale != 0 && q.normalized.scale != 0 { problem = "\(field.name) is not a whole number: \(q)"; return }
                quantities[field.meterSlot] = q
                return
            }
            guard isValidUTF8(v) else { problem = "\(field.name) is not valid UTF-8"; return }
            spans[field.rawValue] = v
        }
    }

    /// `true`/`false` in any case, or `1`/`0`.
    static func parseBool(_ v: UnsafeRawBufferPointer) -> Bool? {
        func matches(_ word: StaticString) -> Bool {
            guard v.count == word.utf8CodeUnitCount else { return false }
            for k in 0..<v.count where v[k] | 0x20 != word.utf8Start[k] { return false }
            return true
        }
        if v.count == 1 { return v[0] == 0x31 ? true : (v[0] == 0x30 ? false : nil) }
        if matches("true") { return true }
        if matches("false") { return false }
        return nil
    }

    /// Adds a tag; `key` is the normalised key already encoded as a JSON string, in memory that
    /// outlives the record's use (the reader's `ByteArena`).
    func addTag(encodedKey key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        guard problem == nil, !value.isEmpty else { return }
        guard isValidUTF8(value) else { problem = "tag value is not valid UTF-8"; return }
        tags.append((key, value))
    }

    /// Adds a tag whose encoded key lives only as long as this record (copied here).
    func addTag(ownKey key: [UInt8], _ value: UnsafeRawBufferPointer) {
        addTag(encodedKey: recordKeys.store(key), value)
    }

    /// Tag keys are lower-cased, with spaces and dashes turned into underscores (`Team Name` → `team_name`).
    static func normalizeTagKey(_ k: String) -> String {
        var out = ""
        for ch in k.unicodeScalars {
            if ch == " " || ch == "-" { out += "_" } else { out.unicodeScalars.append(ch) }
        }
        return out.lowercased()
    }

    static func encodedTagKey(_ raw: String) -> [UInt8] {
        var out: [UInt8] = []
        out.appendJSONString(normalizeTagKey(raw))
        return out
    }

    /// Why the record cannot be used, or `nil` when it is complete and valid.
    func validate(context: GenericUsage.FileContext) -> QuarantineReason? {
        if let problem { return QuarantineReason(problem) }
        typealias F = GenericUsage.Field
        guard spans[F.provider.rawValue] != nil || context.provider != nil else { return "provider is missing" }
        guard spans[F.billingAccount.rawValue] != nil || context.billingAccount != nil else { return "billing_account is missing" }
        guard spans[F.model.rawValue] != nil else { return "model is missing" }
        if timestamp == nil {
            guard let s = periodStart, let e = periodEnd else { return "timestamp (or period_start and period_end) is missing" }
            guard s < e else { return "period_start must be before period_end" }
        }
        return nil
    }

    /// The validated record as a `UsageRecord` (strings made here). Call only after `validate`.
    func makeRecord(line: Int, context: GenericUsage.FileContext) -> UsageRecord {
        typealias F = GenericUsage.Field
        func str(_ f: F) -> String? { spans[f.rawValue].map { String(decoding: $0, as: UTF8.self) } }
        let start = timestamp ?? periodStart!
        let end = timestamp ?? periodEnd!
        var q: [(meter: String, quantity: ExactDecimal)] = []
        for slot in 0..<F.meterCount {
            if let v = quantities[slot], !v.isZero { q.append((GenericUsage.meterIds[slot], v)) }
        }
        let tier = str(.serviceTier)?.lowercased() ?? (batch == true ? "batch" : "standard")
        var t = tags.map { (key: String(decoding: $0.key.dropFirst().dropLast(), as: UTF8.self), value: String(decoding: $0.value, as: UTF8.self)) }
        t.sort { $0.key < $1.key }
        var r = UsageRecord(provider: (str(.provider) ?? context.providerName ?? "").lowercased(),
                            billingAccountId: str(.billingAccount) ?? context.billingAccountName ?? "",
                            subAccountId: str(.subAccount), model: str(.model)!, periodStart: start, periodEnd: end,
                            serviceTier: tier, quantities: q, tags: t, source: SourcePosition(file: context.file, line: line))
        r.requestId = str(.requestId)
        r.executionId = str(.executionId)
        r.spanId = str(.spanId)
        r.parentSpanId = str(.parentSpanId)
        r.agent = str(.agent)
        return r
    }
}

/// What a generic-format reader hands its records to: the extract stage (validate, de-duplicate,
/// quarantine) or the transform stage (price the records extract accepted).
protocol GenericRecordHandler: AnyObject {
    /// A complete, valid record. Returns `false` when the handler refuses it (it quarantines or
    /// skips it itself); the reader then counts it as quarantined.
    func accept(_ b: GenericRecordBuilder, line: Int, context: GenericUsage.FileContext, raw: () -> String) throws -> Bool
    /// A record that cannot be used, with the reason.
    func reject(line: Int, reason: String, raw: String, context: GenericUsage.FileContext) throws
}

/// Whether bytes are valid UTF-8 (ASCII checked first, without building a String).
@inline(__always)
func isValidUTF8(_ v: UnsafeRawBufferPointer) -> Bool {
    // ASCII (the usual case) 8 bytes at a time; anything else is validated in full.
    var i = 0
    var high: UInt64 = 0
    while i + 8 <= v.count { high |= v.loadUnaligned(fromByteOffset: i, as: UInt64.self); i += 8 }
    while i < v.count { high |= UInt64(v[i]); i += 1 }
    return high & 0x8080_8080_8080_8080 == 0 || String(validating: v, as: UTF8.self) != nil
}

extension GenericUsage {
    /// Values fixed for a whole file, already encoded as JSON (a class: shared by every record's view).
    final class FileContext {
        var provider: [UInt8]?
        var billingAccount: [UInt8]?
        var providerName: String?
        var billingAccountName: String?
        /// `,"source":"<file>","position":`
        var encodedSource: [UInt8]
        var file: String

        init(file: String, defaults: [String: String]) {
            func enc(_ s: String?) -> [UInt8]? {
                guard let s else { return nil }
                var b: [UInt8] = []
                b.appendJSONString(s)
                return b
            }
            self.file = file
            providerName = defaults["provider"]
            billingAccountName = defaults["billing_account"]
            provider = enc(defaults["provider"].map { $0.lowercased() })
            billingAccount = enc(defaults["billing_account"])
            encodedSource = Array(",\"source\":".utf8) + enc(file)! + Array(",\"position\":".utf8)
        }
    }

    /// `"tokens_input":` for each meter slot.
    static let encodedMeterKeys: [[UInt8]] = meterIds.map { Array("\"\($0)\":".utf8) }
    /// The id fields written after the tags, with their encoded keys.
    static let idFields: [(Field, [UInt8])] = [Field.requestId, .executionId, .spanId, .parentSpanId, .agent].map {
        ($0, Array(",\"\($0.name)\":".utf8))
    }
    /// Canonical meter id of each meter slot.
    static let meterIds: [String] = Field.allCases.compactMap { $0.meter?.id }
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
    /// - Parameter part: read only the records of this byte range, which starts at a record
    ///   boundary on line `part.firstLine` (the header is read from the file's start); `stream` is
    ///   then ignored. `nil`: the whole stream.
    static func readCSV(_ stream: ByteStream, file: String, defaults: [String: String], handler: some GenericRecordHandler,
                        delimiter: UInt8 = UInt8(ascii: ","), progress counts: inout RowCounts,
                        part: (range: Range<Int>, firstLine: Int)? = nil) throws -> RowCounts {
        var reader = CSVReader(stream: stream, delimiter: delimiter)
        let record = CSVRecord()
        guard try reader.next(into: record) else { return counts }
        var columns: [Field?] = []
        var tagKeys: [UnsafeRawBufferPointer?] = []
        let keyArena = ByteArena()   // the encoded tag keys, for every record's tags to point to
        defer { withExtendedLifetime(keyArena) {} }
        var seen = Set<String>()
        for k in 0..<record.count {
            guard let name = record.string(k)?.trimmed else {
                throw ReckonError(.badData, "header field \(k + 1) is not valid UTF-8", at: SourcePosition(file: file, line: 1))
            }
            guard seen.insert(name).inserted else {
                throw ReckonError(.badData, "column \"\(name)\" appears twice in the header", at: SourcePosition(file: file, line: 1))
            }
            if name.hasPrefix("tag.") && name.count > 4 {
                columns.append(nil); tagKeys.append(keyArena.store(GenericRecordBuilder.encodedTagKey(String(name.dropFirst(4)))))
            } else {
                columns.append(Field.byName[name]); tagKeys.append(nil)
            }
        }
        let width = record.count
        // Tags are added in the order of their keys, the order a tag set is named in.
        let tagColumns = tagKeys.indices.compactMap { k in tagKeys[k].map { (column: k, key: $0) } }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        let context = FileContext(file: file, defaults: defaults)
        let builder = GenericRecordBuilder()
        // A later part of the file: its records come from its own byte range (the header above
        // was read from the file's start; `record` no longer points into the old reader after this).
        if let part, part.range.lowerBound > 0 {
            reader = CSVReader(stream: try ByteStream(path: file, range: part.range), delimiter: delimiter, firstLine: part.firstLine)
        }
        while try reader.next(into: record) {
            counts.rowsRead += 1
            guard record.count == width else {
                counts.rowsQuarantined += 1
                try handler.reject(line: record.line, reason: "expected \(width) fields, found \(record.count)", raw: record.rawText,
                                   context: context)
                continue
            }
            let line = record.line
            builder.reset()
            for k in 0..<width {
                if let f = columns[k] { builder.set(f, record.field(k)) }
            }
            for t in tagColumns { builder.addTag(encodedKey: t.key, record.field(t.column)) }
            let outcome: Bool
            if let reason = builder.validate(context: context) {
                try handler.reject(line: line, reason: reason.message, raw: record.rawText, context: context)
                outcome = false
            } else {
                outcome = try handler.accept(builder, line: line, context: context, raw: { record.rawText })
            }
            if outcome { counts.rowsOut += 1 } else { counts.rowsQuarantined += 1 }
        }
        return counts
    }
}

// MARK: - JSONL

extension GenericUsage {
    /// Whether two byte spans hold the same bytes.
    @inline(__always)
    static func same(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    /// Reads a generic-format JSONL file: one flat JSON object per line (`tags` may be an object
    /// of scalars). A line that is not such an object is quarantined with its line and column.
    /// - Parameter firstLine: the line `stream` starts on (a part of the file: see `GenericSource.parts`).
    static func readJSONL(_ stream: ByteStream, file: String, defaults: [String: String], handler: some GenericRecordHandler,
                          progress counts: inout RowCounts, firstLine: Int = 1) throws -> RowCounts {
        let lines = LineReader(stream: stream, firstLine: firstLine)
        let context = FileContext(file: file, defaults: defaults)
        let builder = GenericRecordBuilder()
        // Tag keys seen (up to 4,096): by hash, their raw and encoded bytes in `keyArena`, so that a
        // record's tags point at kept keys (compared byte for byte: a hash is not an identity).
        var tagKeyIndex = HashIndex()
        var tagKeys: [(raw: UnsafeRawBufferPointer, encoded: UnsafeRawBufferPointer)] = []
        let keyArena = ByteArena()
        let members = UnsafeMutableBufferPointer<FlatJSONScanner.Member>.allocate(capacity: 16)
        defer {
            members.deallocate()
            withExtendedLifetime(keyArena) {}
        }
        // The field at each key position of the previous line: exports repeat one key order, so a
        // key is usually recognised by comparing it with one name, without hashing it.
        var fieldAt: [Field?] = []
        let names = Field.nameSpans
        while let outcome = try lines.next({ line -> Bool? in
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
            builder.reset()
            var scanner = FlatJSONScanner(line, members: members)
            defer { scanner.release() }
            do {
                var seenFields: UInt32 = 0
                var position = 0
                try scanner.scanObject { key, value in
                    defer { position += 1 }
                    let field: Field
                    if position < fieldAt.count, let f = fieldAt[position], f.isNamed(key, in: names) { field = f } else {
                        let found = Field.lookup(key)
                        if position < fieldAt.count { fieldAt[position] = found } else if position == fieldAt.count && position < 64 { fieldAt.append(found) }
                        guard let found else { return }
                        field = found
                    }
                    let bit: UInt32 = 1 << UInt32(field.rawValue)
                    guard seenFields & bit == 0 else { throw QuarantineReason("duplicate key \"\(field.name)\"") }
                    seenFields |= bit
                    switch value {
                    case .null: break
                    case .object(let members):
                        guard field == .tags else { throw QuarantineReason("\(field.name) must not be an object") }
                        for (k, v) in members {
                            let h = fnv1a(k)
                            if let n = tagKeyIndex.find(h), Self.same(tagKeys[Int(n)].raw, k) {
                                builder.addTag(encodedKey: tagKeys[Int(n)].encoded, v)
                                continue
                            }
                            guard let name = String(validating: k, as: UTF8.self) else { throw QuarantineReason("tag key is not valid UTF-8") }
                            let encoded = GenericRecordBuilder.encodedTagKey(name)
                            if tagKeys.count < 4096 && tagKeyIndex.find(h) == nil {
                                tagKeyIndex.insert(h, Int32(tagKeys.count))
                                tagKeys.append((keyArena.store(k), keyArena.store(encoded)))
                                builder.addTag(encodedKey: tagKeys[tagKeys.count - 1].encoded, v)
                            } else {
                                builder.addTag(ownKey: encoded, v)
                            }
                        }
                    case .text(let bytes):
                        if field.isMeter { throw QuarantineReason("\(field.name) must be a number, not a string") }
                        builder.set(field, bytes)
                    case .number(let bytes):
                        if !field.isMeter { throw QuarantineReason("\(field.name) must not be a number") }
                        builder.set(field, bytes)
                    case .bool(let b):
                        guard field == .batch else { throw QuarantineReason("\(field.name) must not be true/false") }
                        builder.batch = b
                    }
                }
            } catch let reason as QuarantineReason {
                try handler.reject(line: lines.lineNumber, reason: reason.message, raw: String(decoding: line, as: UTF8.self), context: context)
                return false
            }
            if let reason = builder.validate(context: context) {
                try handler.reject(line: lines.lineNumber, reason: reason.message, raw: String(decoding: line, as: UTF8.self), context: context)
                return false
            }
            return try handler.accept(builder, line: lines.lineNumber, context: context, raw: { String(decoding: line, as: UTF8.self) })
        }) {
            guard let kept = outcome else { continue }  // blank line
            counts.rowsRead += 1
            if kept { counts.rowsOut += 1 } else { counts.rowsQuarantined += 1 }
        }
        return counts
    }
}

/// A scanner for one flat JSON object on one line: string, number, true/false/null values, and
/// one level of nested object of scalars (for tags). Strings without escapes are handed out as
/// the bytes between the quotes; strings with escapes are decoded into a scratch buffer.
struct FlatJSONScanner {
    typealias Member = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    /// A value: only pointers into the line (or into scratch memory), so passing one around costs
    /// no reference counting (an array payload for objects cost a retain and release per field).
    enum Value {
        case text(UnsafeRawBufferPointer)
        case number(UnsafeRawBufferPointer)
        case bool(Bool)
        case null
        case object(UnsafeBufferPointer<Member>)
    }

    let b: UnsafeRawBufferPointer
    var i = 0
    /// Decoded strings with escapes (and tag booleans) live here until `release()`.
    var scratch: [UnsafeMutableRawBufferPointer] = []
    /// Where a nested object's members go: the caller's (reused for every line), or a larger one
    /// in `scratch` when an object has more members than it holds.
    private var members: UnsafeMutableBufferPointer<Member>

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

    /// - Parameter members: room for a nested object's members, owned by the caller and reused.
    init(_ bytes: UnsafeRawBufferPointer, members: UnsafeMutableBufferPointer<Member>) {
        b = bytes
        self.members = members
    }

    func fail(_ what: String) -> QuarantineReason { QuarantineReason("not a flat JSON object: \(what) at column \(i + 1)") }

    mutating func ws() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0D { i += 1 } }

    mutating func scanObject(_ onField: (UnsafeRawBufferPointer, Value) throws -> Void) throws {
        ws()
        guard i < b.count, b[i] == UInt8(ascii: "{") else { throw fail("expected '{'") }
        i += 1
        ws()
        if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return try end() }
        while true {
            ws()
            let key = try string()
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
            var count = 0
            func add(_ m: Member) {
                if count == members.count {
                    let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * max(count, 8) * MemoryLayout<Member>.stride,
                                                                        alignment: MemoryLayout<Member>.alignment)
                    scratch.append(bigger)
                    let moved = bigger.bindMemory(to: Member.self)
                    for k in 0..<count { moved[k] = members[k] }
                    members = moved
                }
                members[count] = m
                count += 1
            }
            ws()
            if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return .object(UnsafeBufferPointer(rebasing: members[0..<0])) }
            while true {
                ws()
                let k = try string()
                ws()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                ws()
                switch try value(nested: false) {
                case .text(let v), .number(let v): add((k, v))
                case .bool(let v): add((k, keep((v ? "true" : "false").utf8)))
                case .null: break
                case .object: throw fail("objects nested more than one level")
                }
                ws()
                guard i < b.count else { throw fail("unexpected end of line") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(UnsafeBufferPointer(rebasing: members[0..<count])) }
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
        // Eight bytes at a time while none is a quote, a backslash, a control character or
        // non-ASCII (bit tricks: a byte equal to c, or below n, shows as a set high bit). The marks
        // are exact at the lowest marked byte (a borrow only marks bytes above it), so the scan
        // stops right at the first byte that needs a look — usually the closing quote — and the
        // byte loop below takes it from there.
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func zeros(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        while i + 8 <= b.count {
            let w = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let marks = (w & highs) | zeros(w ^ (ones &* 0x22)) | zeros(w ^ (ones &* 0x5C)) | ((w &- ones &* 0x20) & ~w & highs)
            if marks != 0 { i += marks.trailingZeroBitCount >> 3; break }
            i += 8
        }
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
