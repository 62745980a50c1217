import Dispatch
import ReckonCore
import ReckonExtract

/// Prices the parts of one large export on several threads: each part (a byte range starting at
/// a record boundary, see `GenericSource.parts`) goes to a builder of its own, then the builders
/// are merged into the stage's in part order, and the parts' unpriced-usage entries are written
/// to the quarantine in that order too — so the outputs are the same bytes as a one-thread run.
/// - Memory: one cell table per part, each bounded by its share of `--max-cells` (they spill),
///   until the merge; then the parts' spilled cells stay on disk for the day-by-day pass.
enum ParallelPricing {
    /// One thread's part: its builder, what it quarantined, how many records it passed, its error.
    private final class Worker: @unchecked Sendable {
        var builder: EstimatedRowBuilder
        var unpriced: [QuarantineEntry] = []
        var passed = 0
        var error: (any Error)?
        init(_ builder: EstimatedRowBuilder) { self.builder = builder }
    }

    /// What every thread reads; read-only while the threads run.
    private struct Shared: @unchecked Sendable {
        var source: GenericSource
        var parts: [(range: Range<Int>, firstLine: Int)]
        var skip: Set<Int>
        var workers: [Worker]
    }

    /// - Returns: the number of records priced (checked against extract's count for the file).
    static func run(_ source: GenericSource, parts: [(range: Range<Int>, firstLine: Int)], skip: Set<Int>,
                    into estimated: inout EstimatedRowBuilder, quarantine: QuarantineFile) throws -> Int {
        var template = estimated.emptyCopy()
        template.reserveCells(min(source.rowsOut / parts.count / 4, 1 << 20))
        let shared = Shared(source: source, parts: parts, skip: skip, workers: parts.map { _ in Worker(template) })
        DispatchQueue.concurrentPerform(iterations: parts.count) { i in
            let w = shared.workers[i]
            do {
                w.passed = try shared.source.forEachAcceptedView(skipLines: shared.skip, part: shared.parts[i]) { view in
                    try w.builder.add(view: view) { w.unpriced.append($0) }
                }
            } catch {
                w.error = error
            }
        }
        for w in shared.workers { if let e = w.error { throw e } }
        let passed = shared.workers.reduce(0) { $0 + $1.passed }
        try source.checkCount(passed)
        for (k, w) in shared.workers.enumerated() {
            // The first part's table becomes the stage's when it has nothing yet: one merge fewer.
            if k == 0 && estimated.isEmpty { estimated = w.builder } else { try estimated.merge(w.builder) }
            for q in w.unpriced { try quarantine.append(q) }
        }
        return passed
    }
}
