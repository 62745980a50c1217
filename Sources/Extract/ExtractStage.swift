import Logging
import ReckonCore

/// The extract stage: reads every usage export under `INPUT/usage/` and every invoice under
/// `INPUT/invoices/`, and writes them in normalised form to `staging/extract/`
/// (`usage.jsonl`, `provider_costs.jsonl`, `invoices.jsonl`, `quarantine.jsonl`, `manifest.json`).
///
/// Every record ends in a staged file or in quarantine; the manifest states
/// rows_read = rows_out + rows_quarantined per source file and in total. A `request_id` seen
/// before (in any file of the run) is counted once: the repeat is quarantined as a duplicate.
public struct ExtractStage {
    public struct Options: Sendable {
        /// The largest share of quarantined records (0…1) the run accepts before failing with
        /// exit code 65. The outputs and the quarantine are written either way.
        public var maxQuarantineShare: ExactDecimal = "0.01"
        /// Threads that validate a large uncompressed generic export in parts (see
        /// `GenericSource.parts`); the outputs are the same bytes whatever the number.
        public var threads = 1
        /// The smallest part a thread is given (8 MiB; smaller in tests).
        public var minimumPartBytes = 8 << 20
        /// Lines of an export per segment of the staged records (see `StagedRecords`): transform
        /// divides its threads and shards by segments.
        public var segmentLines = StagedRecords.defaultSegmentLines
        /// Request ids the de-duplication ledger keeps in memory before it writes a block of them
        /// to a temporary file (see `DuplicateFinder`; smaller in tests).
        public var ledgerBlockKeys = 1 << 18
        public init() {}
    }

    public let layout: Layout
    public let options: Options
    public let logger: Logger

    public init(layout: Layout, options: Options = Options(), logger: Logger) {
        self.layout = layout
        self.options = options
        self.logger = logger
    }

    /// Runs the stage. - Throws: `ReckonError` (its code gives the exit status).
    public func run() throws -> StageReport {
        var report = StageReport(stage: "extract")
        let sink = try UsageSink(usagePath: layout.extractedUsage, costsPath: layout.stageFolder("extract") + "/provider_costs.jsonl",
                                 quarantinePath: layout.quarantine("extract"), sourcesPath: layout.extractedSources,
                                 recordsPath: layout.extractedRecords, repeatsPath: layout.extractedRepeats, spillFolder: layout.stageFolder("extract"),
                                 ledgerBlockKeys: options.ledgerBlockKeys)
        let invoiceOut = try OutputFile(path: layout.extractedInvoices)

        let usageFiles = FileSystem.isDirectory(layout.usageInput) ? try FileSystem.files(under: layout.usageInput) : []
        let invoiceFiles = FileSystem.isDirectory(layout.invoiceInput) ? try FileSystem.files(under: layout.invoiceInput) : []
        if usageFiles.isEmpty && invoiceFiles.isEmpty {
            throw ReckonError(.missingInput, "no usage exports (usage/) and no invoices (invoices/) found",
                              at: SourcePosition(file: layout.input))
        }
        // Staged sources (API pages, request logs) first, generic exports after them: a generic
        // record repeating the request id of a staged one is the repeat.
        let generic = usageFiles.map { Self.isGeneric(try? Self.sniff($0)) }   // sniffed once per file
        let ordered = zip(usageFiles, generic).filter { !$0.1 }.map(\.0) + zip(usageFiles, generic).filter { $0.1 }.map(\.0)
        for file in ordered {
            let (kind, counts) = try extractUsage(file: file, sink: sink)
            report.sources.append(.init(file: file, kind: kind, counts: counts))
            logger.debug("extracted usage", metadata: ["file": "\(file)", "kind": "\(kind)", "rows": "\(counts.rowsOut)"])
        }
        for file in invoiceFiles {
            let (kind, counts) = try extractInvoice(file: file, out: invoiceOut, sink: sink)
            report.sources.append(.init(file: file, kind: kind, counts: counts))
        }

        try sink.resolveDuplicates(report: &report, threads: options.threads)
        report.notes += sink.notes
        try sink.commit()
        try invoiceOut.commit()
        report.outputs = [layout.extractedUsage, layout.extractedSources, layout.extractedRecords, layout.extractedRepeats, sink.costsPath,
                          layout.extractedInvoices, layout.quarantine("extract")]
        if sink.duplicates > 0 {
            report.notes.append("\(sink.duplicates) records repeat a request_id seen before: counted once, the repeats are in quarantine")
        }

        let totals = report.totals
        guard totals.balanced else {
            throw ReckonError(.internalError, "extract counts do not add up: \(totals.summary)")
        }
        if totals.rowsQuarantined > 0 {
            logger.warning("records quarantined", metadata: ["count": "\(totals.rowsQuarantined)",
                                                             "file": "\(layout.quarantine("extract"))"])
            let share = ExactDecimal(totals.rowsQuarantined).divided(by: ExactDecimal(totals.rowsRead), scale: 6, .halfEven) ?? 1
            if share > options.maxQuarantineShare {
                throw ReckonError(.badData,
                                  "\(totals.rowsQuarantined) of \(totals.rowsRead) records quarantined (share \(share)), above the threshold \(options.maxQuarantineShare); see \(layout.quarantine("extract"))")
            }
        }
        try report.write(to: layout.manifest("extract"), relativeTo: layout.output)
        return report
    }

    /// A file that cannot be read as a whole (bad JSON, unknown format, broken gzip or CSV
    /// structure) counts as one record, quarantined with the reason; the run goes on.
    /// Records of that file already staged before the error stay counted as extracted.
    private func quarantineFile(_ file: String, _ error: ReckonError, kind: String, sink: UsageSink,
                                partial: RowCounts = RowCounts()) throws -> (String, RowCounts) {
        try sink.quarantine(QuarantineEntry(stage: "extract", position: error.position ?? SourcePosition(file: file),
                                            reason: error.message + (error.cause.map { " (\($0))" } ?? "")))
        logger.error("file quarantined", metadata: ["file": "\(file)", "reason": "\(error)"])
        return (kind, partial + RowCounts(rowsRead: 1, rowsOut: 0, rowsQuarantined: 1))
    }

    enum UsageFormat { case jsonDocument, jsonl, promptLayer, csv(tabs: Bool), unknown(String) }

    static func isGeneric(_ f: UsageFormat?) -> Bool {
        switch f {
        case .csv?, .jsonl?: return true
        default: return false
        }
    }

    /// Looks at the first bytes (after gzip inflation) to tell a JSON page, JSONL and CSV apart.
    static func sniff(_ file: String) throws -> UsageFormat {
        let stream = try ByteStream(path: file)
        guard let head = try stream.next({ Array($0.prefix(1 << 16)) }) else { return .unknown("empty file") }
        var i = 0
        if head.count >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF { i = 3 }
        while i < head.count, head[i] == 0x20 || head[i] == 0x0A || head[i] == 0x0D || head[i] == 0x09 { i += 1 }
        guard i < head.count else { return .unknown("empty file") }
        if head[i] == UInt8(ascii: "[") { return .jsonDocument }
        if head[i] == UInt8(ascii: "{") {
            let lineEnd = head[i...].firstIndex(of: 0x0A) ?? head.count
            if let first = try? JSONParser.parse(Array(head[i..<lineEnd])), case .object = first {
                if first["data"] != nil && first["provider"] == nil { return .jsonDocument }
                return PromptLayerLog.matches(first) ? .promptLayer : .jsonl
            }
            return .jsonDocument
        }
        // A header line with tabs and no commas is tab-separated.
        let headerEnd = head[i...].firstIndex(of: 0x0A) ?? head.count
        let header = head[i..<headerEnd]
        return .csv(tabs: header.contains(0x09) && !header.contains(UInt8(ascii: ",")))
    }

    func extractUsage(file: String, sink: UsageSink) throws -> (String, RowCounts) {
        let hive = hivePartitions(of: file)
        var kind = "unknown"
        var partial = RowCounts()
        do {
            let format = try Self.sniff(file)
            switch format {
            case .unknown(let why):
                throw ReckonError(.badData, "unknown usage export format: \(why)", at: SourcePosition(file: file))
            case .csv, .jsonl:
                // Generic exports can be tens of GB: they are validated here and their accepted
                // records staged in binary form (see `StagedRecords`), ~17 bytes a record.
                var isCSV = false, tabs = false
                if case .csv(let t) = format { isCSV = true; tabs = t }
                kind = isCSV ? (tabs ? GenericUsage.kindTSV : GenericUsage.kindCSV) : GenericUsage.kindJSONL
                let fingerprint = FileSystem.fingerprint(file)
                let startOrdinal = sink.ledgerCount
                sink.beginSource(segmentLines: options.segmentLines)
                defer { sink.endSource() }
                do {
                    let stream = try ByteStream(path: file)
                    let source = GenericSource(file: file, format: kind, size: fingerprint?.size ?? 0, modified: 0, rowsOut: 0, complete: true)
                    let parts = options.threads > 1 && !stream.isGzip
                        ? try source.parts(options.threads, minimumBytes: options.minimumPartBytes, segmentLines: options.segmentLines) : []
                    var replayParts: [UsageSink.ReplayPart] = []
                    if parts.count > 1 {
                        sink.notes.append("\(file): validated in \(parts.count) parts on \(parts.count) threads")
                        replayParts = try ParallelExtract.run(source, parts: parts, sink: sink, spillFolder: layout.stageFolder("extract"),
                                                              counts: &partial)
                    } else {
                        try source.replay(sink, counts: &partial, inflateAhead: options.threads > 1)
                    }
                    try sink.finishSource()
                    sink.addSource(GenericSource(file: file, format: kind, size: fingerprint?.size ?? 0,
                                                 modified: fingerprint?.modifiedNanoseconds ?? 0, rowsOut: partial.rowsOut, complete: true),
                                   startOrdinal: startOrdinal, parts: replayParts)
                    return (kind, partial)
                } catch let e as ReckonError where e.code == .badData {
                    try sink.finishSource()   // the records before the break count
                    sink.addSource(GenericSource(file: file, format: kind, size: fingerprint?.size ?? 0,
                                                 modified: fingerprint?.modifiedNanoseconds ?? 0, rowsOut: partial.rowsOut, complete: false),
                                   startOrdinal: startOrdinal)
                    throw e
                }
            case .promptLayer:
                kind = PromptLayerLog.kind
                let counts = try PromptLayerLog.read(try ByteStream(path: file), file: file, billingAccount: hive["billing_account"],
                                                     sink: sink, progress: &partial)
                return (kind, counts)
            case .jsonDocument:
                let bytes = try ByteStream.readAll(path: file)
                let doc: JSONValue
                do { doc = try JSONParser.parse(bytes) } catch {
                    throw ReckonError(.badData, "not valid JSON: \(error.message)",
                                      at: SourcePosition(file: file, line: lineNumber(of: error.byteOffset, in: bytes)))
                }
                guard let k = ProviderReports.kind(of: doc) else {
                    throw ReckonError(.badData, "unknown usage export format (expected an Anthropic usage or cost report page, an OpenAI usage or costs page, or the Reckon generic format)",
                                      at: SourcePosition(file: file))
                }
                kind = k
                guard let account = hive["billing_account"], !account.isEmpty else {
                    throw ReckonError(.badData, "the report does not name its organisation: put the file under a billing_account=<id> folder",
                                      at: SourcePosition(file: file))
                }
                switch k {
                case AnthropicUsageReport.kind:
                    return (k, try AnthropicUsageReport.read(doc, file: file, provider: hive["provider"] ?? "anthropic",
                                                              billingAccount: account, emit: sink.emit, quarantine: sink.quarantine))
                case "anthropic.cost_report":
                    return (k, try ProviderReports.anthropicCosts(doc, file: file, billingAccount: account,
                                                                  emit: sink.emitCost, quarantine: sink.quarantine))
                case "openai.costs":
                    return (k, try ProviderReports.openAICosts(doc, file: file, billingAccount: account,
                                                               emit: sink.emitCost, quarantine: sink.quarantine))
                default:
                    return (k, try ProviderReports.openAIUsage(doc, file: file, billingAccount: account,
                                                               emit: sink.emit, quarantine: sink.quarantine))
                }
            }
        } catch let e as ReckonError where e.code == .badData {
            return try quarantineFile(file, e, kind: kind, sink: sink, partial: partial)
        }
    }

    func extractInvoice(file: String, out: OutputFile, sink: UsageSink) throws -> (String, RowCounts) {
        do {
            let bytes = try ByteStream.readAll(path: file)
            let invoice: Invoice
            if UBLInvoiceReader.looksLikeUBL(bytes) {
                invoice = try UBLInvoiceReader.read(bytes: bytes, file: file)
            } else if CIIInvoiceReader.looksLikeCII(bytes) {
                invoice = try CIIInvoiceReader.read(bytes: bytes, file: file)
            } else if let stripe = try StripeInvoiceReader.readIfStripe(bytes: bytes, file: file) {
                invoice = stripe
            } else {
                throw ReckonError(.badData, "unknown invoice format (expected UBL 2.1, UN/CEFACT CII or Stripe invoice JSON)",
                                  at: SourcePosition(file: file))
            }
            let violations = EN16931.check(invoice)
            if !violations.isEmpty {
                throw ReckonError(.badData, "invoice \(invoice.id) fails EN 16931 arithmetic: "
                                  + violations.map(\.description).joined(separator: "; "), at: SourcePosition(file: file))
            }
            try out.write(JSONWriter.write(invoice.json) + "\n")
            return ("invoice." + invoice.syntax, RowCounts(rowsRead: 1, rowsOut: 1))
        } catch let e as ReckonError where e.code == .badData {
            return try quarantineFile(file, e, kind: "invoice", sink: sink)
        }
    }
}

/// Where extracted records go: the staged usage and provider-cost files, the quarantine, and the
/// run's request ids as 128-bit keys (`requestIdKey`) — a set for the records staged as copies (API
/// pages and request logs, which are small) and the ledger for generic exports (on disk, see
/// `DuplicateFinder`). Two different ids share a key with odds of about 1 in 10^25 at 10 M ids
/// (the record would be quarantined as a duplicate, never dropped silently).
final class UsageSink: GenericRecordHandler {
    let usage: OutputFile
    let sources: OutputFile
    let costs: OutputFile
    let costsPath: String
    /// The accepted generic records in binary form (`StagedRecords`), all sources.
    let records: OutputFile
    /// The staged records found to repeat an earlier request id (`RepeatedLines`).
    private let repeats: RepeatedLines.Writer
    /// The writer of the source being read on one thread (`beginSource` … `endSource`).
    private var recordWriter: StagedRecordWriter?
    private var segmentLines = StagedRecords.defaultSegmentLines
    private let quarantineFile: QuarantineFile
    private var buffer: [UInt8] = []
    /// Request ids of staged (copied) records: checked at once.
    private var requestIds = RequestIdSet()
    /// Request-id hashes of generic records in reading order, checked for repeats after the run
    /// (written to a temporary file a block at a time: memory does not grow with the records).
    private let ledger: DuplicateFinder
    /// The ledger ordinal at which each pending source's records start.
    private var sourceStarts: [Int] = []
    /// A part of a generic source read on its own thread: its bytes, first line, and the ledger
    /// ordinal (within the source) of its first request id — where a thread can read it again.
    struct ReplayPart: Sendable {
        var range: Range<Int>
        var firstLine: Int
        var ordinalStart: Int
    }
    /// The parts each pending source was read in (none: read whole, on one thread).
    private var sourceParts: [[ReplayPart]] = []
    /// Generic sources validated so far; written to `usage_sources.jsonl` by `resolveDuplicates`.
    private var pendingSources: [GenericSource] = []
    private(set) var duplicates = 0
    /// Lines for the manifest's notes (how large exports were read).
    var notes: [String] = []



    init(usagePath: String, costsPath: String, quarantinePath: String, sourcesPath: String, recordsPath: String,
         repeatsPath: String, spillFolder: String, ledgerBlockKeys: Int) throws {
        repeats = try RepeatedLines.Writer(path: repeatsPath)
        ledger = DuplicateFinder(spillFolder: spillFolder, blockKeys: ledgerBlockKeys)
        usage = try OutputFile(path: usagePath)
        records = try OutputFile(path: recordsPath, writeBehind: true)
        sources = try OutputFile(path: sourcesPath)
        costs = try OutputFile(path: costsPath)
        self.costsPath = costsPath
        quarantineFile = try QuarantineFile(path: quarantinePath)
        buffer.reserveCapacity(1 << 20)
    }

    /// Stages a usage record; returns `false` (and quarantines it) when its request id was seen before.
    func emit(_ r: UsageRecord) throws -> Bool {
        if var id = r.requestId {
            let h = id.withUTF8 { requestIdKey(UnsafeRawBufferPointer($0)) }
            guard requestIds.insert(h).inserted else {
                duplicates += 1
                try quarantine(QuarantineEntry(stage: "extract", position: r.source,
                                               reason: "duplicate request_id \(id): counted once, this repeat is not used",
                                               raw: r.stagingLine))
                return false
            }
        }
        r.appendStagingLine(to: &buffer)
        if buffer.count >= 1 << 20 { try flush() }
        return true
    }

    /// A valid generic record: kept unless its request id was seen before (then quarantined here).
    /// What the request-id check says of a valid generic record.
    enum RequestIdCheck {
        case noId
        /// The id's key, for the ledger (which finds repeats among generic records after the run).
        case newId(UInt128)
        /// A staged record already had the id: the repeat, quarantined at once.
        case repeatsStaged(QuarantineEntry)
    }

    /// The request-id check of a valid generic record, for this sink and for the parts of a file
    /// read on several threads (`ParallelExtract`).
    func checkRequestId(_ b: GenericRecordBuilder, line: Int, context: GenericUsage.FileContext, raw: () -> String) -> RequestIdCheck {
        guard let id = b.spans[GenericUsage.Field.requestId.rawValue] else { return .noId }
        let h = requestIdKey(id)
        guard isStagedRequestId(h) else { return .newId(h) }
        return .repeatsStaged(QuarantineEntry(stage: "extract", position: SourcePosition(file: context.file, line: line),
                                              reason: "duplicate request_id \(String(decoding: id, as: UTF8.self)): counted once, this repeat is not used",
                                              raw: raw()))
    }

    /// The quarantine entry of a generic record that cannot be used.
    static func rejected(line: Int, reason: String, raw: String, context: GenericUsage.FileContext) -> QuarantineEntry {
        QuarantineEntry(stage: "extract", position: SourcePosition(file: context.file, line: line), reason: reason, raw: raw)
    }

    /// A valid generic record. Its request id goes to the ledger, which finds repeats after the
    /// whole run (`resolveDuplicates`); an id already seen in a staged record is a repeat at once.
    func accept(_ b: GenericRecordBuilder, line: Int, context: GenericUsage.FileContext, raw: () -> String) throws -> Bool {
        switch checkRequestId(b, line: line, context: context, raw: raw) {
        case .noId: break
        case .newId(let h): try ledger.add(h)
        case .repeatsStaged(let entry): duplicates += 1; try quarantine(entry); return false
        }
        try recordWriter?.add(b, line: line)
        return true
    }

    /// Starts staging the records of the next generic source (its index: the sources added so far).
    func beginSource(segmentLines: Int) {
        self.segmentLines = segmentLines
        recordWriter = writerIntoRecords()
    }

    /// Writes the source's last open segment.
    func finishSource() throws { try recordWriter?.finish() }

    func endSource() { recordWriter = nil }

    /// A writer for one part of the current source read on its own thread; its segments go to `file`
    /// and are copied into the records in part order by `absorb`.
    func partWriter(into file: TemporaryFile) -> StagedRecordWriter {
        StagedRecordWriter(source: pendingSources.count, segmentLines: segmentLines) { try file.append($0) }
    }

    /// A writer of the current source's segments straight into the records: the one-thread
    /// reader's, and the first part's of an export read in parts on their own threads (while the
    /// parts run, nothing else writes the records; the other parts' segments follow, copied by
    /// `absorb`). On two threads this halves the staged bytes that go through a temporary file.
    func writerIntoRecords() -> StagedRecordWriter {
        let records = self.records
        return StagedRecordWriter(source: pendingSources.count, segmentLines: segmentLines) { try records.write(raw: $0) }
    }

    func reject(line: Int, reason: String, raw: String, context: GenericUsage.FileContext) throws {
        try quarantine(Self.rejected(line: line, reason: reason, raw: raw, context: context))
    }

    /// Records a validated generic source (call after reading it; `startOrdinal` is the ledger
    /// count before it was read).
    func addSource(_ s: GenericSource, startOrdinal: Int, parts: [ReplayPart] = []) {
        pendingSources.append(s)
        sourceStarts.append(startOrdinal)
        sourceParts.append(parts)
    }

    /// A ledger for the request ids of one part of a file read on its own thread (`absorb` takes it over).
    func partLedger() -> DuplicateFinder {
        DuplicateFinder(spillFolder: ledger.spillFolder, blockKeys: ledger.blockKeys)
    }

    /// The number of request ids in the ledger so far.
    var ledgerCount: Int { ledger.count }

    /// Whether a staged (copied) record had this request id hash (read-only while parts are read).
    func isStagedRequestId(_ h: UInt128) -> Bool { !requestIds.isEmpty && requestIds.contains(h) }

    /// Adds what one part of a generic export found, in reading order (see `ParallelExtract`).
    func absorb(_ part: ParallelExtract.PartResult) throws {
        try part.quarantine.drain(into: quarantineFile)
        try ledger.append(part.ledger)
        duplicates += part.duplicates
        try part.forEachRecordChunk { try records.write(raw: $0) }
    }

    /// Finds the generic records whose request id repeats an earlier one, quarantines them (with
    /// their raw record, read again from the file), lists their lines for transform to skip
    /// (`usage_repeats.bin`) and moves them from out to quarantined in `report`; then writes
    /// `usage_sources.jsonl`. The ledger is searched on `threads` threads (the same answer for any
    /// number).
    /// - Memory: one bit a generic record with a request id for the answer (see
    ///   `DuplicateFinder`); the repeats stream to the quarantine and the list, however many.
    func resolveDuplicates(report: inout StageReport, threads: Int) throws {
        let repeating = try ledger.duplicates(threads: threads)
        if ledger.wroteBlocks {
            notes.append("\(ledger.count) request ids checked for repeats from blocks written to a temporary file")
        }
        for index in pendingSources.indices where repeating.count > 0 {
            let start = sourceStarts[index], end = index + 1 < sourceStarts.count ? sourceStarts[index + 1] : ledger.count
            guard repeating.count(in: start..<end) > 0 else { continue }
            let source = pendingSources[index]
            var found = 0
            if sourceParts[index].count > 1 && threads > 1 {
                found = try resolveInParts(source, index: index, parts: sourceParts[index]) { repeating.contains(start + $0) }
            } else {
                try source.forEachRecord(idOrdinals: { repeating.contains(start + $0) }, skipIds: requestIds) { line, raw in
                    found += 1
                    try quarantine(Self.repeatEntry(source, line: line, raw: raw()))
                    try repeats.append(source: index, line: line)
                }
            }
            duplicates += found
            pendingSources[index].rowsOut -= found
            if let k = report.sources.firstIndex(where: { $0.file == source.file }) {
                report.sources[k].counts.rowsOut -= found
                report.sources[k].counts.rowsQuarantined += found
            }
        }
        for s in pendingSources { try sources.write(JSONWriter.write(s.json) + "\n") }
    }

    static func repeatEntry(_ source: GenericSource, line: Int, raw: String) -> QuarantineEntry {
        QuarantineEntry(stage: "extract", position: SourcePosition(file: source.file, line: line),
                        reason: "duplicate request_id: counted once, this repeat is not used (an earlier record has the same request_id)",
                        raw: raw)
    }

    /// Reads the parts of a source again on a thread each to find its repeats (the records whose
    /// request-id ordinal `wanted` accepts), then adds them to the quarantine and the list of
    /// repeated lines in part order: the same lines as one thread reading the file.
    /// - Returns: the repeats found.
    /// - Memory: per part, 4 MiB of quarantine lines and 512 KiB of repeated lines; the rest of
    ///   each waits in a temporary file.
    private func resolveInParts(_ source: GenericSource, index: Int, parts: [ReplayPart],
                                wanted: @escaping @Sendable (Int) -> Bool) throws -> Int {
        /// What one part found (its thread's alone until it is added).
        final class Found: @unchecked Sendable {
            let quarantine: QuarantineBuffer
            let lines: RepeatedLines.LineBuffer
            init(_ folder: String) {
                quarantine = QuarantineBuffer(spillFolder: folder)
                lines = RepeatedLines.LineBuffer(spillFolder: folder)
            }
        }
        struct Shared: @unchecked Sendable { let source: GenericSource, parts: [ReplayPart], skip: RequestIdSet, folder: String }
        let shared = Shared(source: source, parts: parts, skip: requestIds, folder: ledger.spillFolder)
        let results = try concurrentMap(parts.count) { k in
            let f = Found(shared.folder), part = shared.parts[k]
            let finder = RecordFinder(wanted: wanted, skip: shared.skip, firstOrdinal: part.ordinalStart) { line, raw in
                try f.quarantine.append(Self.repeatEntry(shared.source, line: line, raw: raw()))
                try f.lines.append(line)
            }
            try shared.source.replay(finder, part: (part.range, part.firstLine))
            return f
        }
        var found = 0
        for f in results {
            found += f.quarantine.count
            try f.quarantine.drain(into: quarantineFile)
            try f.lines.drain { try repeats.append(source: index, line: $0) }
        }
        return found
    }

    func emitCost(_ c: ProviderCostRecord) throws -> Bool {
        try costs.write(JSONWriter.write(c.json) + "\n")
        return true
    }

    func quarantine(_ e: QuarantineEntry) throws { try quarantineFile.append(e) }

    private func flush() throws {
        try usage.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func commit() throws {
        try flush()
        try usage.commit()
        try records.commit()
        try repeats.commit()
        try sources.commit()
        try costs.commit()
        try quarantineFile.commit()
    }
}

/// A generic-format export validated by extract, whose accepted records are staged in
/// `usage_records.bin` (see `StagedRecords`): the file, its size and modification time when
/// validated, and how many records extract accepted (`complete` is false when the file broke off,
/// e.g. a truncated gzip: the records before the break count). Transform checks that it priced
/// that many.
public struct GenericSource: Sendable, Equatable {
    public var file: String
    public var format: String
    public var size: Int
    public var modified: Int
    public var rowsOut: Int
    public var complete: Bool

    public var json: JSONValue {
        .object([("file", .string(file)), ("format", .string(format)), ("size", .number(String(size))),
                 ("modified_ns", .number(String(modified))), ("rows_out", .number(String(rowsOut))), ("complete", .bool(complete))])
    }

    var delimiter: UInt8 { format == GenericUsage.kindTSV ? 0x09 : UInt8(ascii: ",") }

    public init(file: String, format: String, size: Int, modified: Int, rowsOut: Int, complete: Bool) {
        self.file = file
        self.format = format
        self.size = size
        self.modified = modified
        self.rowsOut = rowsOut
        self.complete = complete
    }

    public init(json j: JSONValue) throws(StagingDecodeError) {
        func int(_ k: String) throws(StagingDecodeError) -> Int {
            guard case .number(let n)? = j[k], let v = Int(n) else { throw StagingDecodeError(field: k) }
            return v
        }
        self.init(file: try j.required("file", \.string), format: try j.required("format", \.string), size: try int("size"),
                  modified: try int("modified_ns"), rowsOut: try int("rows_out"), complete: try j.required("complete", \.bool))
    }
}

/// The 1-based line of a byte offset.
public func lineNumber(of offset: Int, in bytes: [UInt8]) -> Int {
    var line = 1
    for b in bytes.prefix(offset) where b == 0x0A { line += 1 }
    return line
}

/// A set of request-id keys (`requestIdKey`; open addressing, linear probing): 16 bytes per
/// slot, at most half full.
struct RequestIdSet {
    private var slots: [UInt128] = Array(repeating: 0, count: 1 << 12)
    private var count = 0
    private var hasZero = false

    /// Inserts `h`; `false` if it was already there.
    mutating func insert(_ h: UInt128) -> (inserted: Bool, Void) {
        if h == 0 {
            defer { hasZero = true }
            return (!hasZero, ())
        }
        if (count + 1) * 2 > slots.count { grow() }
        let mask = slots.count - 1
        var i = Self.slot(h, mask)
        while true {
            let v = slots[i]
            if v == 0 { slots[i] = h; count += 1; return (true, ()) }
            if v == h { return (false, ()) }
            i = (i + 1) & mask
        }
    }

    var isEmpty: Bool { count == 0 && !hasZero }

    @inline(__always)
    private static func slot(_ h: UInt128, _ mask: Int) -> Int {
        let w = UInt64(truncatingIfNeeded: h >> 64)
        return Int(truncatingIfNeeded: ((w ^ (w >> 29)) &* 0x9E3779B97F4A7C15) >> 20) & mask
    }

    func contains(_ h: UInt128) -> Bool {
        if h == 0 { return hasZero }
        let mask = slots.count - 1
        var i = Self.slot(h, mask)
        while true {
            let v = slots[i]
            if v == 0 { return false }
            if v == h { return true }
            i = (i + 1) & mask
        }
    }

    /// Makes room for `n` more hashes without growing step by step.
    mutating func reserve(_ n: Int) {
        var size = slots.count
        while (count + n) * 2 > size { size *= 2 }
        if size > slots.count { grow(to: size) }
    }

    private mutating func grow(to size: Int? = nil) {
        let old = slots
        slots = Array(repeating: 0, count: size ?? old.count * 2)
        count = 0
        for v in old where v != 0 { _ = insert(v) }
    }
}

extension GenericSource {
    /// Reads the file again through the generic reader, handing its records to `handler`. A file
    /// that broke off when extract read it breaks off at the same place: the records before count.
    func replay(_ handler: some GenericRecordHandler, part: (range: Range<Int>, firstLine: Int)? = nil) throws {
        var counts = RowCounts()
        try replay(handler, part: part, counts: &counts)
    }

    /// The same, with the records read, passed and quarantined added to `counts` (also when a
    /// break is thrown). With `inflateAhead`, a gzip file is inflated on a second thread.
    func replay(_ handler: some GenericRecordHandler, part: (range: Range<Int>, firstLine: Int)? = nil,
                counts: inout RowCounts, inflateAhead: Bool = false) throws {
        do {
            // A part that is the whole file (always so for gzip) is read as the file: gzip is inflated.
            let part = part.flatMap { $0.range.lowerBound == 0 && $0.range.upperBound >= size ? nil : $0 }
            if format != GenericUsage.kindJSONL {
                let stream = try part.map { $0.range.lowerBound == 0 ? try ByteStream(path: file, range: $0.range) : try ByteStream(path: file) }
                    ?? ByteStream(path: file, inflateAhead: inflateAhead)
                _ = try GenericUsage.readCSV(stream, file: file, defaults: hivePartitions(of: file), handler: handler,
                                             delimiter: delimiter, progress: &counts, part: part)
            } else {
                // JSONL has no header: a part is read from its own byte range.
                let stream = try part.map { try ByteStream(path: file, range: $0.range) } ?? ByteStream(path: file, inflateAhead: inflateAhead)
                _ = try GenericUsage.readJSONL(stream, file: file, defaults: hivePartitions(of: file), handler: handler, progress: &counts,
                                               firstLine: part?.firstLine ?? 1)
            }
        } catch let e as ReckonError where e.code == .badData && !complete {}
    }

    /// The (line, raw text) of the records whose request id has one of the `idOrdinals` among this
    /// file's records with a request id (ids in `skipIds` were refused at once and are not counted).
    /// Calls `body` with the line and raw text of each record whose request-id ordinal (its place
    /// among the file's records with a request id not in `skipIds`) `wanted` accepts, in order.
    /// The file is read again whole. - Memory: one record.
    func forEachRecord(idOrdinals wanted: (Int) -> Bool, skipIds: RequestIdSet,
                       _ body: (_ line: Int, _ raw: () -> String) throws -> Void) throws {
        try withoutActuallyEscaping(wanted) { wanted in
            try withoutActuallyEscaping(body) { body in try replay(RecordFinder(wanted: wanted, skip: skipIds, body: body)) }
        }
    }
}

final class RecordFinder: GenericRecordHandler {
    let wanted: (Int) -> Bool
    let skip: RequestIdSet
    let body: (Int, () -> String) throws -> Void
    var ordinal: Int
    init(wanted: @escaping (Int) -> Bool, skip: RequestIdSet, firstOrdinal: Int = 0, body: @escaping (Int, () -> String) throws -> Void) {
        self.wanted = wanted
        self.skip = skip
        self.body = body
        ordinal = firstOrdinal
    }
    func accept(_ b: GenericRecordBuilder, line: Int, context: GenericUsage.FileContext, raw: () -> String) throws -> Bool {
        guard let id = b.spans[GenericUsage.Field.requestId.rawValue] else { return true }
        if !skip.isEmpty && skip.contains(requestIdKey(id)) { return true }
        if wanted(ordinal) { try body(line, raw) }
        ordinal += 1
        return true
    }
    func reject(line: Int, reason: String, raw: String, context: GenericUsage.FileContext) throws {}
}
