import Logging
import ReckonCore
import ReckonExtract
import ReckonFocus
import ReckonPricing

/// The transform stage: `staging/extract/` → FOCUS rows in `staging/transform/`
/// (`estimated/` and `invoiced/`, one `billing_period=YYYY-MM` partition each, as the FOCUS CSV load publishes).
///
/// Reads the rate cards (`INPUT/ratecards/*.csv`) and account names (`INPUT/accounts.csv`).
/// Conservation: every non-zero (usage record, meter) quantity is priced into a row or quarantined
/// as unpriced usage; every invoice becomes rows or is quarantined.
public struct TransformStage {
    public let layout: Layout
    /// Only this billing period, or every period found in the inputs.
    public let period: BillingPeriod?
    /// How many threads price a generic export's staged records (each a run of its segments, see
    /// `StagedRecords`); the output is byte for byte the same whatever the number.
    public let threads: Int
    /// One run, one shard of the usage (its partial result only), or the merge of N shards' results.
    public let mode: Mode
    /// Output cells held in memory while pricing (shared by the threads); beyond it they are
    /// spilled to a temporary file (see `EstimatedRowBuilder.limitCells`).
    public let maxCells: Int
    /// The default `maxCells`: 65,536 cells (about 7 MB). A table that stays in the CPU's caches
    /// prices faster than one that holds more cells and spills less: on 1 M generated records the
    /// pricing phase took 0.38–0.41 s on one thread with 65,536 cells and 0.47–0.56 s with 196,608
    /// (the default until session 6), and the whole transform the same time either way (the
    /// final pass merges more spilled cells: at 10 M, 1.4 GB of temporary file instead of 0.9 GB).
    public static let defaultMaxCells = 65_536
    public let logger: Logger

    /// Shard mode, the path past one machine: `shard(i, n)` prices the i-th of n runs of segments of
    /// each generic export's staged records (see `StagedRecords`; an export of fewer segments than
    /// shards leaves some shards nothing of it; the API pages go to shard 0) and writes
    /// `staging/transform/shards/shard-i-of-n.jsonl`; `merge(n)` reads the n partial results, checks
    /// every export was priced whole, and writes the same staging a one-machine run writes, byte for byte.
    public enum Mode: Sendable, Equatable {
        case full
        case shard(index: Int, count: Int)
        case merge(count: Int)
    }

    public init(layout: Layout, period: BillingPeriod?, threads: Int = 1, mode: Mode = .full,
                maxCells: Int = TransformStage.defaultMaxCells, logger: Logger) {
        self.maxCells = max(1, maxCells)
        self.layout = layout
        self.period = period
        self.threads = max(1, threads)
        self.mode = mode
        self.logger = logger
    }

    /// Adds the partial results of shards 0..<count to `estimated` (see `Mode`), writes their
    /// unpriced usage to the quarantine in the order one run writes it (API pages, then each export
    /// part by part), and checks that every export was read whole across the shards.
    func mergeShards(_ count: Int, into estimated: inout EstimatedRowBuilder, quarantine: QuarantineFile,
                     report: inout StageReport) throws {
        var passed: [Int: Int] = [:]
        let run = try extractRun()
        for index in 0..<count {
            let path = shardPath(index, of: count)
            guard FileSystem.exists(path) else {
                throw ReckonError(.missingInput, "shard \(index + 1) of \(count) has not run: reckon-transform --shard \(index)/\(count)",
                                  at: SourcePosition(file: path))
            }
            try forEachJSONLine(path, unless: ShardQuarantine.isEntry) { v, line in
                if let sha = v["extract_manifest_sha256"]?.string {
                    guard sha == run else {
                        throw ReckonError(.badData, "shard \(index + 1) of \(count) priced another extract run: run the shards again",
                                          at: SourcePosition(file: path, line: line))
                    }
                } else if case .array(let pairs)? = v["passed"] {
                    for pair in pairs {
                        guard case .array(let sp) = pair, sp.count == 2, case .number(let s) = sp[0], case .number(let n) = sp[1],
                              let source = Int(s), let records = Int(n) else {
                            throw ReckonError(.badData, "not a shard result line", at: SourcePosition(file: path, line: line))
                        }
                        passed[source, default: 0] += records
                    }
                } else {
                    do { try estimated.absorb(v) } catch {
                        throw ReckonError(.badData, "not a shard result line", at: SourcePosition(file: path, line: line))
                    }
                    try estimated.spillIfFull()
                }
            }
        }
        // One run writes unpriced usage in reading order: the API pages (shard 1's), then each
        // export part by part — shard 1's share of it, shard 2's, … Each shard lists its entries
        // in that order already, so they are merged a line at a time from all the shards at once.
        let readers = try (0..<count).map { try ShardQuarantine(path: shardPath($0, of: count)) }
        while let source = readers.compactMap(\.next?.source).min() {
            for r in readers {
                while let n = r.next, n.source == source {
                    try quarantine.append(json: n.entry)
                    try r.advance()
                }
            }
        }
        var sourceIndex = -1
        var inPlace = 0
        if FileSystem.exists(layout.extractedSources) {
            try forEachJSONLine(layout.extractedSources) { value, line in
                sourceIndex += 1
                let source: GenericSource
                do { source = try GenericSource(json: value) } catch {
                    throw ReckonError(.badData, "staged source: \(error)", at: SourcePosition(file: layout.extractedSources, line: line))
                }
                try source.checkCount(passed[sourceIndex] ?? 0)
                inPlace += passed[sourceIndex] ?? 0
            }
        }
        report.notes.append("merged \(count) shards; \(inPlace) usage records of generic exports priced from extract's staged records")
    }

    /// The unpriced-usage entries of one shard's result, in its order, a line at a time.
    /// - Memory: one line.
    private final class ShardQuarantine {
        /// Whether a line of a shard's result is an unpriced-usage entry (it starts so: `JSONWriter`
        /// keeps the members in the order written).
        static func isEntry(_ line: UnsafeRawBufferPointer) -> Bool { line.starts(with: #"{"quarantine":"#.utf8) }

        let path: String
        let lines: LineReader
        /// The next entry and the source it came from (-1: the staged pages), or nil at the end.
        private(set) var next: (source: Int, entry: JSONValue)?

        init(path: String) throws {
            self.path = path
            lines = LineReader(stream: try ByteStream(path: path))
            try advance()
        }

        func advance() throws {
            next = nil
            while let value = try lines.next({ buf -> JSONValue? in
                // Only the entries are parsed here; the first pass has read the rest.
                guard Self.isEntry(buf) else { return nil }
                do { return try JSONParser.parse(buf) } catch {
                    throw ReckonError(.badData, "not valid JSON: \(error)", at: SourcePosition(file: path, line: lines.lineNumber))
                }
            }) {
                guard let v = value else { continue }
                guard let q = v["quarantine"], case .number(let s)? = v["source"], let source = Int(s) else {
                    throw ReckonError(.badData, "not a shard result line", at: SourcePosition(file: path, line: lines.lineNumber))
                }
                next = (source, q)
                return
            }
        }
    }

    /// The SHA-256 of extract's manifest: which extract run a shard priced.
    func extractRun() throws -> String { SHA256.hex(try ByteStream.readAll(path: layout.manifest("extract"))) }

    public func shardPath(_ index: Int, of count: Int) -> String {
        layout.stageFolder("transform") + "/shards/shard-\(index)-of-\(count).jsonl"
    }

    /// Prices the usage into `estimated`: the staged API pages and request logs, then each generic
    /// export read again in place (in parts on several threads with `threads`; only this shard's
    /// parts in shard mode; nothing but the shards' results in merge mode).
    /// - Returns: in shard mode, the unpriced usage with its source — -1 is the staged
    ///   pages — and the records read of each export; otherwise empty (unpriced usage goes straight
    ///   to `quarantine`).
    func priceUsage(into estimated: inout EstimatedRowBuilder, quarantine: QuarantineFile,
                    report: inout StageReport) throws -> (quarantine: QuarantineBuffer, passed: [Int: Int]) {
        let shardQuarantine = QuarantineBuffer(spillFolder: layout.stageFolder("transform"))
        var passedBySource: [Int: Int] = [:]
        func unpriced(_ source: Int) -> (QuarantineEntry) throws -> Void {
            if case .shard = mode {
                return { try shardQuarantine.append(json: .object([("quarantine", $0.json), ("source", .number(String(source)))])) }
            }
            return { try quarantine.append($0) }
        }
        let (readsStaged, readsExports): (Bool, Bool) = {
            switch mode {
            case .full: return (true, true)
            case .shard(let index, _): return (index == 0, true)
            case .merge: return (false, false)
            }
        }()
        if case .merge(let count) = mode {
            try mergeShards(count, into: &estimated, quarantine: quarantine, report: &report)
        } else if readsStaged {
            let sink = unpriced(-1)
            try forEachJSONLine(layout.extractedUsage) { value, line in
                let record: UsageRecord
                do { record = try UsageRecord(json: value) } catch {
                    throw ReckonError(.badData, "staged usage record: \(error)", at: SourcePosition(file: layout.extractedUsage, line: line))
                }
                try estimated.add(record, unpriced: sink)
            }
        }
        // Generic exports: the records extract accepted, from its binary staging, skipping the
        // repeats it found after reading (listed in `usage_repeats.bin`).
        var sourceIndex = -1
        if FileSystem.exists(layout.extractedSources), readsExports {
            let repeats = layout.extractedRepeats
            let records = layout.extractedRecords
            var segments: [Int: [StagedRecords.Segment]] = [:]
            if FileSystem.exists(records) {
                for segment in try StagedRecords.segments(path: records) { segments[segment.source, default: []].append(segment) }
            }
            var staged = 0
            try forEachJSONLine(layout.extractedSources) { value, line in
                let source: GenericSource
                do { source = try GenericSource(json: value) } catch {
                    throw ReckonError(.badData, "staged source: \(error)", at: SourcePosition(file: layout.extractedSources, line: line))
                }
                sourceIndex += 1
                let mine = segments[sourceIndex] ?? []
                if case .shard(let index, let count) = mode {
                    let share = mine[(mine.count * index / count)..<(mine.count * (index + 1) / count)]
                    let sink = unpriced(sourceIndex)
                    let passed = try StagedRecords.forEachView(path: records, segments: share, file: source.file, repeats: repeats) { view in
                        try estimated.add(view: view, unpriced: sink)
                    }
                    passedBySource[sourceIndex] = passed
                    staged += passed
                    return
                }
                let runs = min(threads, mine.count)
                if runs > 1 {
                    let parts = (0..<runs).map { k in mine[(mine.count * k / runs)..<(mine.count * (k + 1) / runs)] }
                    staged += try ParallelPricing.run(source, records: records, parts: parts, repeats: repeats, into: &estimated, quarantine: quarantine,
                                                      spillFolder: layout.stageFolder("transform"))
                    report.notes.append("\(source.file): priced in \(runs) parts on \(runs) threads")
                    return
                }
                // Skip the cell table's first doublings (each rehashes every cell) without reserving
                // room it may not need: room touched at random is resident memory.
                estimated.reserveCells(estimated.rowCount + min(source.rowsOut / 4, 1 << 20))
                // One sink for all the records (a closure made per record retained what it captured).
                let sink: (QuarantineEntry) throws -> Void = { try quarantine.append($0) }
                let passed = try StagedRecords.forEachView(path: records, segments: mine[...], file: source.file, repeats: repeats) { view in
                    try estimated.add(view: view, unpriced: sink)
                }
                try source.checkCount(passed)
                staged += passed
            }
            if staged > 0 { report.notes.append("\(staged) usage records of generic exports priced from extract's staged records") }
        }
        return (shardQuarantine, passedBySource)
    }

    public func run() throws -> StageReport {
        var report = StageReport(stage: "transform")
        let clock = ContinuousClock()
        let started = clock.now
        let card = try RateCard.load(folder: layout.rateCardInput)
        let accounts = try AccountNames.load(path: layout.accountsFile)
        let plans = try PlanSchedule.load(path: layout.input + "/plans.csv")
        let terms = try InvoiceTerms.load(input: layout.input)
        let quarantine = try QuarantineFile(path: layout.quarantine("transform"))
        logger.debug("rate card loaded", metadata: ["rates": "\(card.rates.count)", "version": "\(card.version)"])

        // Estimated: stream the usage records into daily cells.
        let timeZones = try BillingTimeZones.load(path: layout.input + "/billing_time_zones.csv")
        var estimated = EstimatedRowBuilder(rateCard: card, accounts: accounts, period: period, timeZones: timeZones, plans: plans)
        // Each thread's table gets its share of the cell budget.
        estimated.limitCells(to: max(1, maxCells / threads), spillFolder: layout.stageFolder("transform"))
        let (shardQuarantine, passedBySource) = try priceUsage(into: &estimated, quarantine: quarantine, report: &report)
        report.sources.append(.init(file: layout.extractedUsage, kind: "usage meter quantities", counts: estimated.counts))
        if estimated.skippedOtherPeriods > 0 {
            report.notes.append("\(estimated.skippedOtherPeriods) usage records outside billing period \(period.map(String.init(describing:)) ?? "-") not read")
        }

        if estimated.spilledCells > 0 {
            report.notes.append("\(estimated.spilledCells) cells spilled to a temporary file (more than --max-cells \(maxCells) distinct rows); written back a day at a time")
        }
        for above in estimated.gaugesAboveCap() {
            report.notes.append(above)
            logger.warning("usage above a plan cap", metadata: ["detail": "\(above)"])
        }
        let priced = clock.now
        logger.info("priced usage", metadata: ["quantities": "\(estimated.counts.rowsRead)", "cells_in_memory": "\(estimated.rowCount)",
                                              "cells_spilled": "\(estimated.spilledCells)", "seconds": "\(priced - started)"])
        if case .shard(let index, let count) = mode {
            // A shard's result: the builder's sums, its unpriced usage in order, what it read of each export.
            let out = try OutputFile(path: shardPath(index, of: count))
            // Which extract run the shard priced: the merge takes only results of the current one.
            try out.write(JSONWriter.write(.object([("extract_manifest_sha256", .string(try extractRun()))])) + "\n")
            try estimated.forEachPartialValue { try out.write(JSONWriter.write($0) + "\n") }
            try shardQuarantine.drain { try out.write(raw: $0) }
            try out.write(JSONWriter.write(.object([("passed", .array(passedBySource.sorted { $0.key < $1.key }.map {
                .array([.number(String($0.key)), .number(String($0.value))])
            }))])) + "\n")
            try out.commit()
            report.outputs.append(shardPath(index, of: count))
            report.notes.append("shard \(index + 1) of \(count): partial result for reckon-transform merge")
            try report.write(to: layout.stageFolder("transform") + "/shards/shard-\(index)-of-\(count).manifest.json", relativeTo: layout.output)
            return report
        }

        // Invoiced: one invoice at a time.
        let invoiced = InvoicedRowBuilder(accounts: accounts, linePatterns: try InvoiceLinePatterns.load(path: layout.input + "/invoice_lines.csv"))
        var invoicedRows: [BillingPeriod: [FocusRow]] = [:]
        var invoiceCounts = RowCounts()
        // The billing period of every invoice, to tell which credit notes correct an earlier period.
        var knownPeriods: [String: BillingPeriod] = [:]
        try forEachJSONLine(layout.extractedInvoices) { value, _ in
            if let invoice = try? Invoice(json: value), !invoice.isCreditNote, !invoice.totals.payable.isNegative {
                knownPeriods[invoice.id] = InvoicedRowBuilder.billingPeriod(of: invoice)
            }
        }
        var corrections = 0
        try forEachJSONLine(layout.extractedInvoices) { value, line in
            let invoice: Invoice
            do { invoice = try Invoice(json: value) } catch {
                throw ReckonError(.badData, "staged invoice: \(error)", at: SourcePosition(file: layout.extractedInvoices, line: line))
            }
            let corrects = InvoicedRowBuilder.correctedPeriod(of: invoice, known: knownPeriods)
            let billing = InvoicedRowBuilder.billingPeriod(of: invoice, corrects: corrects)
            if let period, billing != period { return }
            invoiceCounts.rowsRead += 1
            do {
                invoicedRows[billing, default: []] += try invoiced.rows(for: invoice, corrects: corrects)
                if let corrects {
                    corrections += 1
                    report.notes.append("\(invoice.id) corrects \(corrects): booked as ChargeClass=Correction in \(billing)")
                }
                invoiceCounts.rowsOut += 1
            } catch let error as ReckonError {
                invoiceCounts.rowsQuarantined += 1
                try quarantine.append(QuarantineEntry(stage: "transform", position: error.position ?? SourcePosition(file: invoice.file),
                                                      reason: error.message))
            }
        }
        report.sources.append(.init(file: layout.extractedInvoices, kind: "invoices", counts: invoiceCounts))

        // Write one partition per billing period in scope (an empty one when a side has no rows,
        // so that a rerun never leaves a stale partition behind for a period it processed).
        // Estimated rows stream out in order; they arrive grouped by billing period.
        // The line callback captures only variables (by reference): the specialised loop that
        // calls it had copied what it captured by value — the whole stage, then the layout's
        // strings — and retained it on every row.
        var writers = EstimateWriters(layout: layout)
        var charges = InvoiceTerms.Totals()
        var usageRows = 0
        try estimated.spillRemaining()
        let usageCharges = try estimated.forEachCSVLine(rateCardVersion: card.version) { p, lines, count in
            usageRows += count
            try writers.writer(p).write(encoded: lines, lines: count)
        }
        for c in usageCharges {
            charges.add(provider: c.provider, account: c.account, accountName: c.accountName, currency: c.currency, billed: c.billed, period: c.period)
        }
        logger.info("wrote estimated rows", metadata: ["rows": "\(usageRows)", "seconds": "\(clock.now - priced)"])
        var periods = Set(writers.open.keys).union(invoicedRows.keys).union(estimated.unpricedTotals.keys.map(\.period))
        if let period { periods = [period] }
        var creditBalances: [String: ExactDecimal] = [:]
        // Closed periods are not rewritten: what differs from their signed-off rows is booked in the
        // next open period as ChargeClass=Correction (pending until that period's turn).
        let closed = try ClosedPeriods.load(layout)
        var pending: [BillingPeriod: (estimated: [FocusRow], invoiced: [FocusRow])] = [:]
        var queue = periods.sorted()
        var next = 0
        while next < queue.count {
            let p = queue[next]
            next += 1
            let estimatedPath = layout.stagedDataset("estimated", p)
            // Plan fees and extra seats (plans.csv) are Purchase rows after the period's usage rows.
            let purchases = plans.purchaseRows(period: p, card: card, accounts: accounts, version: card.version)
            if !purchases.isEmpty {
                let w = try writers.writer(p)
                for row in purchases { try w.write(row); charges.add(row, period: p) }
                report.notes.append("\(p): \(purchases.count) plan purchase rows from plans.csv")
            }
            report.notes += plans.allowanceNotes(period: p, card: card)
            // Then what the invoice adds: credit drawdowns, rounding to cents, tax (credits.csv, taxes.csv).
            let document = terms.documentRows(period: p, totals: charges, balances: &creditBalances, timeZones: timeZones)
            if !document.isEmpty {
                let w = try writers.writer(p)
                for row in document { try w.write(row) }
            }
            // Corrections of closed periods last; they carry their own tax and credit differences.
            if let late = pending[p]?.estimated, !late.isEmpty {
                let w = try writers.writer(p)
                for row in late { try w.write(row) }
            }
            if let w = writers.open[p] { try w.commit() } else { try FocusWriter.write([], to: estimatedPath, format: .csv) }
            let invoicedPath = layout.stagedDataset("invoiced", p)
            try FocusWriter.write((invoicedRows[p] ?? []) + (pending[p]?.invoiced ?? []), to: invoicedPath, format: .csv)
            if closed.contains(p) && period == nil {
                let target = closed.nextOpen(after: p)
                func signedOff(_ dataset: String) throws -> [FocusRow] {
                    let path = layout.dataset(dataset, p, ext: "jsonl")
                    return closed.signedOff.contains(p) && FileSystem.exists(path) ? try FocusReader.rows(inJSONL: path) : []
                }
                let e = PeriodCorrections.rows(tonight: try FocusReader.rows(at: estimatedPath), signedOff: try signedOff("estimated"), bookedIn: target)
                let i = PeriodCorrections.rows(tonight: invoicedRows[p] ?? [], signedOff: try signedOff("invoiced"), bookedIn: target)
                pending[target, default: ([], [])].estimated += e
                pending[target, default: ([], [])].invoiced += i
                if !queue.contains(target) { queue.append(target); queue.sort() }
                report.notes.append("\(p) is closed (\(closed.signedOff.contains(p) ? "signed off" : "in the ledger")): \(e.count) estimated and \(i.count) invoiced correction rows booked in \(target)")
            }
            // Unpriced usage, summed, for the reconciliation (`unpriced_usage`).
            let unpriced = estimated.unpricedTotals.values.filter { $0.key.period == p }.sorted {
                [$0.key.billingAccount, $0.key.provider, $0.key.model, $0.key.meter, $0.key.serviceTier]
                    .lexicographicallyPrecedes([$1.key.billingAccount, $1.key.provider, $1.key.model, $1.key.meter, $1.key.serviceTier])
            }
            try OutputFile.write(unpriced.map { JSONWriter.write($0.json) + "\n" }.joined(), to: layout.stagedUnpriced(p))
            // Rollups: span → execution → agent → workspace, and cost per tag value.
            let tables = estimated.rollups.tables(for: p, names: { estimated.name($0) }, tags: { estimated.tags($0) })
            report.outputs += try Rollups.write(tables, to: layout.stageFolder("transform") + "/rollups/billing_period=\(p)")
            let activity = estimated.rollups.activity(for: p, names: { estimated.name($0) }, tags: { estimated.tags($0) })
            try OutputFile.write(activity.map { JSONWriter.write($0) + "\n" }.joined(), to: layout.stagedActivity(p))
            report.outputs.append(layout.stagedActivity(p))
            report.outputs += [estimatedPath, invoicedPath, layout.stagedUnpriced(p)]
            for u in unpriced {
                report.notes.append("unpriced_usage \(p): \(u.key.provider) \(u.key.model) \(u.key.meter) (\(u.key.serviceTier)) quantity \(u.quantity) in \(u.records) records, account \(u.key.billingAccount)")
            }
        }
        try quarantine.commit()
        report.outputs.append(layout.quarantine("transform"))
        report.notes.append("rate card version \(card.version) (\(card.rates.count) rates)")
        if estimated.counts.rowsQuarantined > 0 {
            logger.warning("usage left unpriced (not priced at $0)",
                           metadata: ["quantities": "\(estimated.counts.rowsQuarantined)", "file": "\(layout.quarantine("transform"))"])
        }
        guard report.totals.balanced else {
            throw ReckonError(.internalError, "transform counts do not add up: \(report.totals.summary)")
        }
        try report.write(to: layout.manifest("transform"), relativeTo: layout.output)
        return report
    }
}

/// Calls `body` with each JSON line of a staging file and its line number (not the lines `skipped`
/// accepts, which are not parsed).
func forEachJSONLine(_ path: String, unless skipped: (UnsafeRawBufferPointer) -> Bool = { _ in false },
                     _ body: (JSONValue, Int) throws -> Void) throws {
    let lines = LineReader(stream: try ByteStream(path: path))
    while let value = try lines.next({ buf -> JSONValue? in
        if buf.isEmpty || skipped(buf) { return nil }
        do { return try JSONParser.parse(buf) } catch {
            throw ReckonError(.badData, "not valid JSON: \(error)", at: SourcePosition(file: path, line: lines.lineNumber))
        }
    }) {
        if let value { try body(value, lines.lineNumber) }
    }
}

/// The estimate's file per billing period, opened when the period's first row comes.
struct EstimateWriters {
    let layout: Layout
    private(set) var open: [BillingPeriod: FocusWriter] = [:]

    init(layout: Layout) { self.layout = layout }

    mutating func writer(_ p: BillingPeriod) throws(ReckonError) -> FocusWriter {
        if let w = open[p] { return w }
        let w = try FocusWriter(path: layout.stagedDataset("estimated", p), format: .csv)
        open[p] = w
        return w
    }
}
