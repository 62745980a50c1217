import ReckonCore

/// Writes FOCUS rows as CSV (RFC 4180, header row, UTF-8, LF) or JSONL, atomically.
public final class FocusWriter {
    public enum Format: String, Sendable { case csv, jsonl }

    private let file: OutputFile
    public let format: Format
    public private(set) var rowCount = 0
    private var buffer: [UInt8] = []

    public init(path: String, format: Format) throws(ReckonError) {
        file = try OutputFile(path: path, writeBehind: true)
        self.format = format
        if format == .csv {
            try file.write(CSVWriter.line(FocusColumn.allCases.map(\.rawValue)))
        }
    }

    public func write(_ row: FocusRow) throws(ReckonError) {
        switch format {
        case .csv: row.appendCSVLine(to: &buffer)
        case .jsonl: row.appendJSONLine(to: &buffer)
        }
        if buffer.count >= 1 << 20 { try file.write(bytes: buffer); buffer.removeAll(keepingCapacity: true) }
        rowCount += 1
    }

    /// Writes rows already encoded in this writer's format: `lines` whole lines, newlines included.
    public func write(encoded bytes: UnsafeRawBufferPointer, lines: Int = 1) throws(ReckonError) {
        if !buffer.isEmpty { try file.write(bytes: buffer); buffer.removeAll(keepingCapacity: true) }
        try file.write(raw: bytes)
        rowCount += lines
    }

    public func commit() throws(ReckonError) {
        if !buffer.isEmpty { try file.write(bytes: buffer) }
        try file.commit()
    }

    /// Writes `rows` to `path` in one go.
    public static func write(_ rows: [FocusRow], to path: String, format: Format) throws(ReckonError) {
        let w = try FocusWriter(path: path, format: format)
        for r in rows { try w.write(r) }
        try w.commit()
    }
}

/// Reads a FOCUS JSONL file written by Reckon, row by row.
/// - Memory: one line at a time.
public enum FocusReader {
    public static func forEachRow(inJSONL path: String, _ body: (FocusRow) throws -> Void) throws {
        let lines = LineReader(stream: try ByteStream(path: path))
        while let row = try lines.next({ buf -> FocusRow? in
            if buf.isEmpty { return nil }
            let value: JSONValue
            do { value = try JSONParser.parse(buf) } catch {
                throw ReckonError(.badData, "not valid JSON: \(error)", at: SourcePosition(file: path, line: lines.lineNumber))
            }
            do { return try FocusRow(json: value) } catch {
                throw ReckonError(.badData, "not a FOCUS row: \(error)", at: SourcePosition(file: path, line: lines.lineNumber))
            }
        }) {
            if let row { try body(row) }
        }
    }

    /// Reads a FOCUS CSV file written by Reckon (header row naming Reckon's columns), row by row.
    /// A file of `decodeAheadBytes` or more is parsed and decoded on a second thread, a batch of
    /// rows ahead of `body` (reconcile spent about a third of its time there); the rows, their
    /// order and the errors (after the rows before them) are the same.
    /// - Memory: one record at a time; two batches of `batchRows` rows when decoding ahead.
    public static func forEachRow(inCSV path: String, only: Set<FocusColumn>? = nil, _ body: (FocusRow) throws -> Void) throws {
        try forEachRow(inCSV: path, only: only, decodeAheadBytes: 8 << 20, body)
    }

    static let batchRows = 2_048

    static func forEachRow(inCSV path: String, only: Set<FocusColumn>?, decodeAheadBytes: Int,
                           _ body: (FocusRow) throws -> Void) throws {
        let wanted = only.map { set in FocusColumn.allCases.map { set.contains($0) } }
        // A large file is one Reckon wrote past the page cache: read it ahead the same way (the
        // size that decodes ahead, which tests lower, and not `ByteStream.dataset`'s own).
        let large = (FileSystem.fingerprint(path)?.size ?? 0) >= decodeAheadBytes
        let reader = CSVReader(stream: try ByteStream(path: path, readAheadDirect: large))
        let r = CSVRecord()
        let jsonCache = FocusJSONCache()
        guard try reader.next(into: r) else { return }
        var columns: [Int] = []
        for k in 0..<r.count {
            guard let name = r.string(k), let i = FocusColumn.indexByName[name] else {
                throw ReckonError(.badData, "not a Reckon FOCUS column: \(r.string(k) ?? "?")", at: SourcePosition(file: path, line: 1))
            }
            columns.append(i)
        }
        func decode() throws -> FocusRow {
            guard r.count == columns.count else {
                throw ReckonError(.badData, "expected \(columns.count) fields, found \(r.count)", at: SourcePosition(file: path, line: r.line))
            }
            do { return try FocusRow(csv: r, columns: columns, wanted: wanted, jsonCache: jsonCache) } catch {
                throw ReckonError(.badData, "not a FOCUS row: \(error)", at: SourcePosition(file: path, line: r.line))
            }
        }
        guard large else {
            while try reader.next(into: r) { try body(try decode()) }
            return
        }
        // A batch is the rows decoded before an error, and the error; nothing is read after one.
        final class Stop { var stopped = false }
        let stop = Stop()
        let ahead = Prefetched<(rows: [FocusRow], error: (any Error)?)?>(count: .max, label: "reckon.focus-decode") { _ in
            if stop.stopped { return nil }
            var rows: [FocusRow] = []
            rows.reserveCapacity(batchRows)
            do {
                while rows.count < batchRows, try reader.next(into: r) { rows.append(try decode()) }
            } catch {
                stop.stopped = true
                return (rows, error)
            }
            if rows.isEmpty { stop.stopped = true; return nil }
            return (rows, nil)
        }
        defer { ahead.finish() }
        while let batch = try ahead.next() ?? nil {
            for row in batch.rows { try body(row) }
            if let error = batch.error { throw error }
        }
    }

    /// Writes the rows of a FOCUS CSV file written by Reckon to `writer` as JSONL, field by field
    /// from the CSV bytes (strings escaped, decimals and date/times copied, JSON objects parsed and
    /// written again, once per distinct text) — the same bytes as decoding each row and writing it,
    /// without building rows.
    /// - Returns: the number of rows. Memory: one record at a time, and up to 4,096 encoded JSON cells
    ///   per JSON column.
    public static func transcode(csv path: String, toJSONL writer: FocusWriter) throws -> Int {
        let reader = CSVReader(stream: try ByteStream.dataset(path: path))
        let r = CSVRecord()
        guard try reader.next(into: r) else { return 0 }
        let header = (0..<r.count).map { r.string($0) ?? "" }
        guard header == FocusColumn.allCases.map(\.rawValue) else {
            // Not in Reckon's column order: go through rows.
            var n = 0
            try forEachRow(inCSV: path) { try writer.write($0); n += 1 }
            return n
        }
        let kinds = FocusColumn.allCases.map(\.kind)
        var line = ByteBuffer()
        // A month repeats a few hundred tag sets: each JSON column's distinct texts are parsed and
        // encoded once.
        let encodedJSON = kinds.map { $0 == .json ? CellTextCache<[UInt8]>() : nil }
        // The `"Name":` prefixes side by side in one buffer, read through pointers in the loop: the
        // arrays themselves cost a retain and a release per field (a third of a transcode's time).
        var names: [UInt8] = [], nameEnds: [Int] = []
        for encoded in FocusRow.encodedNames { names += encoded; nameEnds.append(names.count) }
        var n = 0
        try names.withUnsafeBytes { names in
            try kinds.withUnsafeBufferPointer { kinds in
                try nameEnds.withUnsafeBufferPointer { nameEnds in
                    while try reader.next(into: r) {
                        guard r.count == kinds.count else {
                            throw ReckonError(.badData, "expected \(kinds.count) fields, found \(r.count)", at: SourcePosition(file: path, line: r.line))
                        }
                        line.removeAll()
                        line.append(0x7B)
                        var nameStart = 0
                        for k in 0..<kinds.count {
                            if k > 0 { line.append(0x2C) }
                            line.append(UnsafeRawBufferPointer(rebasing: names[nameStart..<nameEnds[k]]))
                            nameStart = nameEnds[k]
                            let field = r.field(k)
                            if field.isEmpty && !r.quoted(k) { line.append(ascii: "null"); continue }
                            switch kinds[k] {
                            case .string: line.appendJSONString(field)
                            case .decimal: line.append(field)
                            case .dateTime: line.append(0x22); line.append(field); line.append(0x22)
                            case .json:
                                try appendJSON(field, column: k, line: r.line)
                            }
                        }
                        line.append(ascii: "}\n")
                        try line.withBytes { try writer.write(encoded: $0) }
                        n += 1
                    }
                }
            }
        }
        /// A JSON cell through its column's cache (parsed and encoded once per distinct text).
        func appendJSON(_ field: UnsafeRawBufferPointer, column k: Int, line number: Int) throws {
            if let encoded = encodedJSON[k]?.value(field) {
                line.append(encoded)
                return
            }
            guard case .object(let members)? = try? JSONParser.parse(field) else {
                throw ReckonError(.badData, "\(FocusColumn.allCases[k].rawValue) is not a JSON object", at: SourcePosition(file: path, line: number))
            }
            var one = FocusRow()
            one[FocusColumn.allCases[k]] = .json(members)
            var encoded: [UInt8] = []
            one.appendJSONValue(FocusColumn.allCases[k], to: &encoded)
            line.append(encoded)
            encodedJSON[k]?.keep(field, encoded)
        }
        return n
    }

    /// Reads a FOCUS file by its extension: `.csv` or JSONL.
    /// - Parameter only: the columns the caller reads (CSV decodes just those; JSONL decodes all).
    public static func forEachRow(at path: String, only: Set<FocusColumn>? = nil, _ body: (FocusRow) throws -> Void) throws {
        if path.hasSuffix(".csv") { try forEachRow(inCSV: path, only: only, body) } else { try forEachRow(inJSONL: path, body) }
    }

    public static func rows(at path: String) throws -> [FocusRow] {
        var rows: [FocusRow] = []
        try forEachRow(at: path) { rows.append($0) }
        return rows
    }

    public static func rows(inJSONL path: String) throws -> [FocusRow] {
        var rows: [FocusRow] = []
        try forEachRow(inJSONL: path) { rows.append($0) }
        return rows
    }
}
