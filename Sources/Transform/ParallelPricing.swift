import Dispatch
import ReckonCore
import ReckonExtract

/// Prices the staged records of one large export on several threads: each part (a run of its
/// segments, see `StagedRecords`) goes to a builder of its own, then the builders
/// are merged into the stage's in part order, and the parts' unpriced-usage entries are written
/// to the quarantine in that order too — so the outputs are the same bytes as a one-thread run.
/// - Memory: one cell table per part, each bounded by its share of `--max-cells` (they spill),
///   until the merge; then the parts' spilled cells stay on disk for the day-by-day pass. Each
///   part's unpriced-usage entries wait in at most 4 MiB of memory (`QuarantineBuffer`).
enum ParallelPricing {
    /// One thread's part: its builder, what it quarantined, how many records it passed, its error.
    private final class Worker: @unchecked Sendable {
        var builder: EstimatedRowBuilder
        /// Its unpriced-usage entries, in order (in memory up to 4 MiB, then in a temporary file).
        let unpriced: QuarantineBuffer
        var passed = 0
        var error: (any Error)?
        init(_ builder: EstimatedRowBuilder, spillFolder: String) {
            self.builder = builder
            unpriced = QuarantineBuffer(spillFolder: spillFolder)
        }
    }

    /// What every thread reads; read-only while the threads run.
    private struct Shared: @unchecked Sendable {
        var source: GenericSource
        var records: String
        var parts: [ArraySlice<StagedRecords.Segment>]
        var repeats: String?
        var template: EstimatedRowBuilder
        var spillFolder: String
    }

    /// - Returns: the number of records priced (checked against extract's count for the file).
    static func run(_ source: GenericSource, records: String, parts: [ArraySlice<StagedRecords.Segment>], repeats: String?,
                    into estimated: inout EstimatedRowBuilder, quarantine: QuarantineFile, spillFolder: String) throws -> Int {
        // A builder of its own per thread, not copies of one: copies would share their arrays'
        // storage, and the threads' retains of the same objects then fight over one cache line.
        // Each is made on the thread that fills it: workers made together on one thread sat side
        // by side in memory, where the fields every record changes shared cache lines.
        let template = estimated.emptyCopy()
        let shared = Shared(source: source, records: records, parts: parts, repeats: repeats, template: template, spillFolder: spillFolder)
        let workers = try concurrentMap(parts.count) { i in
            var builder = shared.template.emptyCopy()
            builder.reserveCells(min(shared.source.rowsOut / shared.parts.count / 4, 1 << 20))
            let w = Worker(builder, spillFolder: shared.spillFolder)
            do {
                // One sink for all the records (a closure made per record retained what it captured).
                let unpriced = w.unpriced
                let sink: (QuarantineEntry) throws -> Void = { try unpriced.append($0) }
                w.passed = try StagedRecords.forEachView(path: shared.records, segments: shared.parts[i], file: shared.source.file,
                                                         repeats: shared.repeats) { view in
                    try w.builder.add(view: view, unpriced: sink)
                }
            } catch {
                w.error = error
            }
            return w
        }
        for w in workers { if let e = w.error { throw e } }
        let passed = workers.reduce(0) { $0 + $1.passed }
        try source.checkCount(passed)
        for (k, w) in workers.enumerated() {
            // The first part's table becomes the stage's when it has nothing yet: one merge fewer.
            if k == 0 && estimated.isEmpty { estimated = w.builder } else { try estimated.merge(w.builder) }
            try w.unpriced.drain(into: quarantine)
        }
        return passed
    }
}
