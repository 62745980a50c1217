import Logging
import ReckonCore

/// The extract stage: reads every usage export under `INPUT/usage/` and every invoice under
/// `INPUT/invoices/`, and writes them in normalised form to `staging/extract/`
/// (`usage.jsonl`, `invoices.jsonl`, `quarantine.jsonl`, `manifest.json`).
///
/// Every record ends in a staged file or in quarantine; the manifest states
/// rows_read = rows_out + rows_quarantined per source file and in total.
public struct ExtractStage {
    public struct Options: Sendable {
        /// The largest share of quarantined records (0…1) the run accepts before failing with
        /// exit code 65. The outputs and the quarantine are written either way.
        public var maxQuarantineShare: ExactDecimal = "0.01"
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
        let usageOut = try OutputFile(path: layout.extractedUsage)
        let invoiceOut = try OutputFile(path: layout.extractedInvoices)
        let quarantine = try QuarantineFile(path: layout.quarantine("extract"))

        let usageFiles = FileSystem.isDirectory(layout.usageInput) ? try FileSystem.files(under: layout.usageInput) : []
        let invoiceFiles = FileSystem.isDirectory(layout.invoiceInput) ? try FileSystem.files(under: layout.invoiceInput) : []
        if usageFiles.isEmpty && invoiceFiles.isEmpty {
            throw ReckonError(.missingInput, "no usage exports (usage/) and no invoices (invoices/) found",
                              at: SourcePosition(file: layout.input))
        }

        for file in usageFiles {
            let (kind, counts) = try extractUsage(file: file, out: usageOut, quarantine: quarantine)
            report.sources.append(.init(file: file, kind: kind, counts: counts))
            logger.debug("extracted usage", metadata: ["file": "\(file)", "rows": "\(counts.rowsOut)"])
        }
        for file in invoiceFiles {
            let (kind, counts) = try extractInvoice(file: file, out: invoiceOut, quarantine: quarantine)
            report.sources.append(.init(file: file, kind: kind, counts: counts))
        }

        try usageOut.commit()
        try invoiceOut.commit()
        try quarantine.commit()
        report.outputs = [layout.extractedUsage, layout.extractedInvoices, layout.quarantine("extract")]

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

    /// A file that cannot be read as a whole (bad JSON, unknown format) counts as one record,
    /// quarantined with the reason; the run goes on with the other files.
    private func quarantineFile(_ file: String, _ error: ReckonError, kind: String,
                                quarantine: QuarantineFile) throws -> (String, RowCounts) {
        try quarantine.append(QuarantineEntry(stage: "extract", position: error.position ?? SourcePosition(file: file),
                                              reason: error.message + (error.cause.map { " (\($0))" } ?? "")))
        logger.error("file quarantined", metadata: ["file": "\(file)", "reason": "\(error)"])
        return (kind, RowCounts(rowsRead: 1, rowsOut: 0, rowsQuarantined: 1))
    }

    func extractUsage(file: String, out: OutputFile, quarantine: QuarantineFile) throws -> (String, RowCounts) {
        let bytes: [UInt8]
        do { bytes = try ByteStream.readAll(path: file) } catch let e as ReckonError where e.code == .badData {
            return try quarantineFile(file, e, kind: "unreadable", quarantine: quarantine)
        }
        let doc: JSONValue
        do {
            doc = try JSONParser.parse(bytes)
        } catch {
            let line = lineNumber(of: error.byteOffset, in: bytes)
            return try quarantineFile(file, ReckonError(.badData, "not valid JSON: \(error.message)",
                                                        at: SourcePosition(file: file, line: line)),
                                      kind: "unknown", quarantine: quarantine)
        }
        guard AnthropicUsageReport.matches(doc) else {
            return try quarantineFile(file, ReckonError(.badData, "unknown usage export format (expected an Anthropic messages usage report page)",
                                                        at: SourcePosition(file: file)), kind: "unknown", quarantine: quarantine)
        }
        let hive = hivePartitions(of: file)
        guard let account = hive["billing_account"], !account.isEmpty else {
            return try quarantineFile(file, ReckonError(.badData, "the usage report does not name its organisation: put the file under a billing_account=<id> folder",
                                                        at: SourcePosition(file: file)), kind: AnthropicUsageReport.kind, quarantine: quarantine)
        }
        let counts = try AnthropicUsageReport.read(
            doc, file: file, provider: hive["provider"] ?? "anthropic", billingAccount: account,
            emit: { try out.write(JSONWriter.write($0.json) + "\n") },
            quarantine: { try quarantine.append($0) })
        return (AnthropicUsageReport.kind, counts)
    }

    func extractInvoice(file: String, out: OutputFile, quarantine: QuarantineFile) throws -> (String, RowCounts) {
        do {
            let bytes = try ByteStream.readAll(path: file)
            guard UBLInvoiceReader.looksLikeUBL(bytes) else {
                throw ReckonError(.badData, "unknown invoice format (expected UBL 2.1 Invoice or CreditNote)", at: SourcePosition(file: file))
            }
            let invoice = try UBLInvoiceReader.read(bytes: bytes, file: file)
            let violations = EN16931.check(invoice)
            if !violations.isEmpty {
                throw ReckonError(.badData, "invoice \(invoice.id) fails EN 16931 arithmetic: "
                                  + violations.map(\.description).joined(separator: "; "), at: SourcePosition(file: file))
            }
            try out.write(JSONWriter.write(invoice.json) + "\n")
            return ("invoice.ubl", RowCounts(rowsRead: 1, rowsOut: 1))
        } catch let e as ReckonError where e.code == .badData {
            return try quarantineFile(file, e, kind: "invoice", quarantine: quarantine)
        }
    }
}

/// The 1-based line of a byte offset.
public func lineNumber(of offset: Int, in bytes: [UInt8]) -> Int {
    var line = 1
    for b in bytes.prefix(offset) where b == 0x0A { line += 1 }
    return line
}
