import Dispatch
import ReckonCore

/// Validates the parts of one large generic export on several threads: each part (a byte range
/// starting at a record boundary, see `GenericSource.parts`) is read by a handler of its own that
/// keeps its quarantine entries and request-id hashes in reading order; the parts are then added
/// to the stage's sink in part order — the same quarantine lines, the same ledger, the same counts
/// as one thread reading the file.
///
/// A part that breaks off (a structure error such as an unterminated quote) ends the file there:
/// the parts after it are dropped, and the error is thrown after the parts before it (and the
/// records of the broken part before the break) have been added — as a one-thread read would.
/// - Memory: per part, its quarantine entries and 8 bytes per request id until the merge.
enum ParallelExtract {
    /// What one part found.
    final class PartResult: GenericRecordHandler, @unchecked Sendable {
        let sink: UsageSink
        var quarantine: [QuarantineEntry] = []
        var ledgerKeys: [UInt64] = []
        var duplicates = 0
        var counts = RowCounts()
        var error: (any Error)?

        init(sink: UsageSink) { self.sink = sink }

        func accept(_ b: GenericRecordBuilder, line: Int, context: GenericUsage.FileContext, raw: () -> String) throws -> Bool {
            if let id = b.spans[GenericUsage.Field.requestId.rawValue] {
                let h = fnv1a(id)
                if sink.isStagedRequestId(h) {
                    duplicates += 1
                    quarantine.append(QuarantineEntry(stage: "extract", position: SourcePosition(file: context.file, line: line),
                                                      reason: "duplicate request_id \(String(decoding: id, as: UTF8.self)): counted once, this repeat is not used",
                                                      raw: raw()))
                    return false
                }
                ledgerKeys.append(h)
            }
            return true
        }

        func reject(line: Int, reason: String, raw: String, context: GenericUsage.FileContext) throws {
            quarantine.append(QuarantineEntry(stage: "extract", position: SourcePosition(file: context.file, line: line), reason: reason, raw: raw))
        }
    }

    private struct Shared: @unchecked Sendable {
        var source: GenericSource
        var parts: [(range: Range<Int>, firstLine: Int)]
        var defaults: [String: String]
        var delimiter: UInt8
        var results: [PartResult]
    }

    /// Reads `parts` of `source` in parallel and adds them to `sink` in order; `counts` gets the
    /// records read, passed and quarantined (as `readCSV` / `readJSONL` count them).
    static func run(_ source: GenericSource, parts: [(range: Range<Int>, firstLine: Int)], defaults: [String: String],
                    delimiter: UInt8, sink: UsageSink, counts: inout RowCounts) throws {
        let shared = Shared(source: source, parts: parts, defaults: defaults, delimiter: delimiter,
                            results: parts.map { _ in PartResult(sink: sink) })
        DispatchQueue.concurrentPerform(iterations: parts.count) { i in
            let r = shared.results[i], part = shared.parts[i], file = shared.source.file
            do {
                if shared.source.format == GenericUsage.kindJSONL {
                    _ = try GenericUsage.readJSONL(try ByteStream(path: file, range: part.range), file: file, defaults: shared.defaults,
                                                   handler: r, progress: &r.counts, firstLine: part.firstLine)
                } else {
                    // The header is read from the file's start; a later part then reads its own range.
                    let stream = part.range.lowerBound == 0 ? try ByteStream(path: file, range: part.range) : try ByteStream(path: file)
                    _ = try GenericUsage.readCSV(stream, file: file, defaults: shared.defaults, handler: r, delimiter: shared.delimiter,
                                                 progress: &r.counts, part: part)
                }
            } catch {
                r.error = error
            }
        }
        for r in shared.results {
            try sink.absorb(r)
            counts.rowsRead += r.counts.rowsRead
            counts.rowsOut += r.counts.rowsOut
            counts.rowsQuarantined += r.counts.rowsQuarantined
            if let e = r.error { throw e }
        }
    }
}
