import Dispatch
import ReckonCore

/// Validates the parts of one large generic export on several threads: each part (a byte range
/// starting at a record boundary where a staged segment starts, see `GenericSource.parts`) is read
/// by a handler of its own that keeps its quarantine entries, request-id hashes and staged records
/// in reading order; the parts are then added to the stage's sink in part order — the same
/// quarantine lines, the same ledger, the same counts and the same staged bytes as one thread
/// reading the file.
///
/// A part that breaks off (a structure error such as an unterminated quote) ends the file there:
/// the parts after it are dropped, and the error is thrown after the parts before it (and the
/// records of the broken part before the break) have been added — as a one-thread read would.
/// - Memory: per part, a ledger of its request ids (written to a temporary file a block at a
///   time, see `DuplicateFinder`; taken over by the stage's at the merge), at most 4 MiB of
///   quarantine lines (`QuarantineBuffer`: the rest waits in a temporary file) and one open
///   segment of staged records (the finished ones wait in a temporary file, but the first part's,
///   which go straight to the stage's records).
enum ParallelExtract {
    /// What one part found: its quarantine lines (encoded, in memory up to 4 MiB, then in a
    /// temporary file: a part full of bad records does not grow memory) and request-id hashes.
    final class PartResult: GenericRecordHandler, @unchecked Sendable {
        let sink: UsageSink
        let spillFolder: String
        /// The part's quarantine entries, in reading order.
        let quarantine: QuarantineBuffer
        /// Request-id hashes in reading order.
        let ledger: DuplicateFinder
        var duplicates = 0
        var counts = RowCounts()
        var error: (any Error)?
        /// The part's staged records (`StagedRecords` segments), copied into the stage's in part
        /// order; nil for the first part, which stages straight into the stage's records (nothing
        /// is written before it while the parts run, and it comes first).
        private let records: TemporaryFile?
        private let writer: StagedRecordWriter

        /// - Parameter first: whether this is the source's first part (see `records`).
        init(sink: UsageSink, spillFolder: String, first: Bool) throws {
            self.sink = sink
            self.spillFolder = spillFolder
            quarantine = QuarantineBuffer(spillFolder: spillFolder)
            ledger = sink.partLedger()
            if first {
                records = nil
                writer = sink.writerIntoRecords()
            } else {
                let file = try TemporaryFile(folder: spillFolder, purpose: "staged records of a part")
                records = file
                writer = sink.partWriter(into: file)
            }
        }

        func accept(_ b: GenericRecordBuilder, line: Int, context: GenericUsage.FileContext, raw: () -> String) throws -> Bool {
            switch sink.checkRequestId(b, line: line, context: context, raw: raw) {
            case .noId: break
            case .newId(let h): try ledger.add(h)
            case .repeatsStaged(let entry): duplicates += 1; try keep(entry); return false
            }
            try writer.add(b, line: line)
            return true
        }

        /// Writes the part's last open segment (after reading it, also when it broke off).
        func finishRecords() throws { try writer.finish() }

        /// The part's staged records still to be copied, in order, a chunk at a time (none for the first part).
        func forEachRecordChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws { try records?.forEachChunk(body) }

        func reject(line: Int, reason: String, raw: String, context: GenericUsage.FileContext) throws {
            try keep(UsageSink.rejected(line: line, reason: reason, raw: raw, context: context))
        }

        private func keep(_ entry: QuarantineEntry) throws { try quarantine.append(entry) }
    }

    private struct Shared: @unchecked Sendable {
        var source: GenericSource
        var parts: [(range: Range<Int>, firstLine: Int)]
        var sink: UsageSink
        var spillFolder: String
    }

    /// Reads `parts` of `source` in parallel and adds them to `sink` in order; `counts` gets the
    /// records read, passed and quarantined (as `readCSV` / `readJSONL` count them).
    /// `source` must say `complete` (a break is then thrown, not swallowed).
    /// - Returns: the parts, with the ordinal (within the source) of each one's first request id.
    static func run(_ source: GenericSource, parts: [(range: Range<Int>, firstLine: Int)], sink: UsageSink, spillFolder: String,
                    counts: inout RowCounts) throws -> [UsageSink.ReplayPart] {
        // Each part's state is made on the thread that fills it: made together on this thread,
        // two parts' objects sat side by side in memory, and the threads writing them slowed each
        // other down (a JSONL extract took a quarter longer, depending on what was allocated before).
        let shared = Shared(source: source, parts: parts, sink: sink, spillFolder: spillFolder)
        let results = try concurrentMap(parts.count) { i in
            let r = try PartResult(sink: shared.sink, spillFolder: shared.spillFolder, first: i == 0)
            do { try shared.source.replay(r, part: shared.parts[i], counts: &r.counts) } catch { r.error = error }
            do { try r.finishRecords() } catch { if r.error == nil { r.error = error } }
            return r
        }
        let first = sink.ledgerCount
        var replay: [UsageSink.ReplayPart] = []
        for (k, r) in results.enumerated() {
            replay.append(.init(range: parts[k].range, firstLine: parts[k].firstLine, ordinalStart: sink.ledgerCount - first))
            try sink.absorb(r)
            counts.rowsRead += r.counts.rowsRead
            counts.rowsOut += r.counts.rowsOut
            counts.rowsQuarantined += r.counts.rowsQuarantined
            if let e = r.error { throw e }
        }
        return replay
    }
}
