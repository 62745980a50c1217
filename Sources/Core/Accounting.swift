/// A record that could not be used: where it came from, why, and the record itself.
public struct QuarantineEntry: Sendable, Equatable {
    public var stage: String
    public var position: SourcePosition
    public var reason: String
    /// The raw record (a line, an XML fragment or a JSON text), when it can be shown.
    public var raw: String?

    public init(stage: String, position: SourcePosition, reason: String, raw: String? = nil) {
        self.stage = stage
        self.position = position
        self.reason = reason
        self.raw = raw
    }

    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("stage", .string(stage)),
            ("file", .string(position.file)),
        ]
        if let line = position.line { members.append(("line", .number(String(line)))) }
        if let offset = position.byteOffset { members.append(("byte_offset", .number(String(offset)))) }
        if let path = position.path { members.append(("xpath", .string(path))) }
        members.append(("reason", .string(reason)))
        members.append(("raw", .optional(raw)))
        return .object(members)
    }
}

/// Rows read, written and quarantined for one input (a file, or a stage's input set).
/// The invariant `rowsRead == rowsOut + rowsQuarantined` is what "nothing is lost" means.
public struct RowCounts: Sendable, Equatable {
    public var rowsRead = 0
    public var rowsOut = 0
    public var rowsQuarantined = 0

    public init(rowsRead: Int = 0, rowsOut: Int = 0, rowsQuarantined: Int = 0) {
        self.rowsRead = rowsRead
        self.rowsOut = rowsOut
        self.rowsQuarantined = rowsQuarantined
    }

    public var balanced: Bool { rowsRead == rowsOut + rowsQuarantined }

    public static func + (a: RowCounts, b: RowCounts) -> RowCounts {
        RowCounts(rowsRead: a.rowsRead + b.rowsRead, rowsOut: a.rowsOut + b.rowsOut,
                  rowsQuarantined: a.rowsQuarantined + b.rowsQuarantined)
    }

    public static func += (a: inout RowCounts, b: RowCounts) { a = a + b }

    public var jsonMembers: [(key: String, value: JSONValue)] {
        [("rows_read", .number(String(rowsRead))), ("rows_out", .number(String(rowsOut))),
         ("rows_quarantined", .number(String(rowsQuarantined))), ("balanced", .bool(balanced))]
    }

    /// `rows_read=… rows_out=… rows_quarantined=…`, for summary lines.
    public var summary: String {
        "rows_read=\(rowsRead) rows_out=\(rowsOut) rows_quarantined=\(rowsQuarantined)"
    }
}

/// What a stage did, for its manifest file and its one summary line on stderr.
/// Deliberately holds no clock time, so that manifests are byte-identical across runs.
public struct StageReport: Sendable {
    public struct Source: Sendable {
        public var file: String
        public var kind: String
        public var counts: RowCounts
        public init(file: String, kind: String, counts: RowCounts) {
            self.file = file
            self.kind = kind
            self.counts = counts
        }
    }

    public var stage: String
    public var sources: [Source] = []
    public var outputs: [String] = []
    public var notes: [String] = []

    public init(stage: String) { self.stage = stage }

    public var totals: RowCounts { sources.reduce(RowCounts()) { $0 + $1.counts } }

    /// The report as JSON; paths under `root` are written relative to it, so that the same run
    /// into another output folder gives the same bytes.
    public func json(relativeTo root: String? = nil) -> JSONValue {
        func rel(_ p: String) -> String {
            guard let root, p.hasPrefix(root + "/") else { return p }
            return String(p.dropFirst(root.count + 1))
        }
        return .object([
            ("stage", .string(stage)),
            ("totals", .object(totals.jsonMembers)),
            ("sources", .array(sources.map { s in
                .object([("file", .string(rel(s.file))), ("kind", .string(s.kind))] + s.counts.jsonMembers)
            })),
            ("outputs", .array(outputs.map { .string(rel($0)) })),
            ("notes", .array(notes.map(JSONValue.string))),
        ])
    }

    /// Writes the report as pretty JSON to `path` (atomically), paths relative to `root`.
    public func write(to path: String, relativeTo root: String) throws(ReckonError) {
        try OutputFile.write(JSONWriter.write(json(relativeTo: root), pretty: true) + "\n", to: path)
    }
}

/// Appends quarantine entries to a JSONL file, written atomically when the stage commits.
public final class QuarantineFile {
    private let file: OutputFile
    public private(set) var count = 0

    public init(path: String) throws(ReckonError) {
        file = try OutputFile(path: path, writeBehind: true)
    }

    public func append(_ entry: QuarantineEntry) throws(ReckonError) {
        try file.write(JSONWriter.write(entry.json) + "\n")
        count += 1
    }

    /// Appends an entry already written as JSON (a shard's, see `reckon-transform merge`).
    public func append(json: JSONValue) throws(ReckonError) {
        try file.write(JSONWriter.write(json) + "\n")
        count += 1
    }

    /// Counts `n` entries appended as encoded lines in several pieces.
    public func countAppended(_ n: Int) { count += n }

    /// Appends entries already encoded as JSON lines (`count` of them), e.g. a part's.
    public func append(encodedLines bytes: UnsafeRawBufferPointer, count: Int) throws(ReckonError) {
        try file.write(raw: bytes)
        self.count += count
    }

    public func commit() throws(ReckonError) { try file.commit() }
}

/// The quarantine entries one thread finds, kept in order until they can be appended to the
/// stage's quarantine after those of the threads before it: encoded JSON lines, in memory up to
/// 4 MiB and in an unlinked temporary file beyond — a part full of bad or unpriced records does
/// not grow memory.
public final class QuarantineBuffer: @unchecked Sendable {
    private let lines: SpillingBytes
    /// Entries kept so far.
    public private(set) var count = 0

    /// - Parameter spillFolder: where the temporary file is created, if one is needed.
    public init(spillFolder: String) { lines = SpillingBytes(spillFolder: spillFolder, purpose: "quarantined records") }

    public func append(_ entry: QuarantineEntry) throws(ReckonError) { try append(json: entry.json) }

    /// Keeps any JSON value as a line (e.g. an entry with where it came from, for a shard's result).
    public func append(json: JSONValue) throws(ReckonError) {
        try lines.append(contentsOf: (JSONWriter.write(json) + "\n").utf8)
        count += 1
    }

    /// Appends the entries to `file` in the order they came (the same bytes as appending each),
    /// then forgets them.
    public func drain(into file: QuarantineFile) throws {
        let n = count
        try drain { try file.append(encodedLines: $0, count: 0) }
        file.countAppended(n)
    }

    /// Calls `body` with the lines in order, a chunk at a time; then forgets them.
    public func drain(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try lines.drain(body)
        count = 0
    }
}
