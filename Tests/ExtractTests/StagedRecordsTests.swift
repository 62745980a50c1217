import Foundation
import Testing
import ReckonCore
@testable import ReckonExtract

/// Extract's binary staging of generic records (`StagedRecords`): what transform reads back is
/// what extract accepted, segment boundaries follow the lines, and damaged bytes are refused.
@Suite("Staged records")
struct StagedRecordsTests {
    /// Reads a generic CSV, keeping each accepted record (as `makeRecord` gives it) and staging it.
    final class Collector: GenericRecordHandler {
        var records: [UsageRecord] = []
        var rejected: [Int] = []
        var staged: [UInt8] = []
        var writer: StagedRecordWriter!

        init(segmentLines: Int) {
            writer = StagedRecordWriter(source: 3, segmentLines: segmentLines) { [unowned self] in self.staged.append(contentsOf: $0) }
        }

        func accept(_ b: GenericRecordBuilder, line: Int, context: GenericUsage.FileContext, raw: () -> String) throws -> Bool {
            records.append(b.makeRecord(line: line, context: context))
            try writer.add(b, line: line)
            return true
        }

        func reject(line: Int, reason: String, raw: String, context: GenericUsage.FileContext) throws { rejected.append(line) }
    }

    static let fixture = String(#filePath[..<#filePath.lastIndex(of: "/")!]) + "/Fixtures/usage/staged-mix.csv"

    static func stage(segmentLines: Int) throws -> (Collector, String) {
        let c = Collector(segmentLines: segmentLines)
        var counts = RowCounts()
        _ = try GenericUsage.readCSV(try ByteStream(path: fixture), file: fixture, defaults: [:], handler: c, progress: &counts)
        try c.writer.finish()
        let path = FileManager.default.temporaryDirectory.path + "/reckon-staged-\(UUID().uuidString).bin"
        try Data(c.staged).write(to: URL(fileURLWithPath: path))
        return (c, path)
    }

    /// The records the generic reader accepts from a file, request ids included (the parse alone,
    /// for checking fields that are not staged).
    static func parse(_ path: String, defaults: [String: String] = [:]) throws -> [UsageRecord] {
        let c = Collector(segmentLines: 1 << 17)
        var counts = RowCounts()
        if path.hasSuffix(".jsonl") {
            _ = try GenericUsage.readJSONL(try ByteStream(path: path), file: path, defaults: defaults, handler: c, progress: &counts)
        } else {
            _ = try GenericUsage.readCSV(try ByteStream(path: path), file: path, defaults: defaults, handler: c, progress: &counts)
        }
        return c.records
    }

    /// Writes a `RepeatedLines` file of (source, line) entries, in order.
    static func repeatsFile(_ entries: [(Int, Int)]) throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/reckon-repeats-\(UUID().uuidString).bin"
        let w = try RepeatedLines.Writer(path: path)
        for (source, line) in entries { try w.append(source: source, line: line) }
        try w.commit()
        return path
    }

    static func readBack(_ path: String, skip: [Int] = []) throws -> [UsageRecord] {
        var out: [UsageRecord] = []
        // The collector stages as source 3; lines of sources 2 and 4 are not its own.
        let repeats = try repeatsFile([(2, 4)] + skip.map { (3, $0) } + [(4, 2), (4, 5)])
        defer { try? FileManager.default.removeItem(atPath: repeats) }
        _ = try StagedRecords.forEachView(path: path, segments: try StagedRecords.segments(path: path)[...], file: fixture, repeats: repeats) {
            out.append($0.makeRecord())
        }
        return out
    }

    /// Extract's list of repeated lines, walked from any line of any source: across the reader's
    /// 256-entry loads, sources before and after, and damaged or missing files refused.
    @Test func repeatedLinesAreFoundFromAnyStart() throws {
        var entries: [(Int, Int)] = [(0, 5), (0, 9)]
        for line in stride(from: 3, to: 3_000, by: 3) { entries.append((2, line)) }   // 999 lines of source 2
        entries.append((7, 1))
        let path = try Self.repeatsFile(entries)
        defer { try? FileManager.default.removeItem(atPath: path) }
        func walk(_ source: Int, from: Int, to: Int) throws -> [Int] {
            let c = try RepeatedLines.Cursor(path: path, source: source, from: from)
            return try (from..<to).filter { try c.contains($0) }
        }
        #expect(try walk(0, from: 1, to: 20) == [5, 9])
        #expect(try walk(0, from: 6, to: 20) == [9])
        #expect(try walk(1, from: 1, to: 5_000).isEmpty && RepeatedLines.Cursor(path: path, source: 1, from: 1).isDone)
        let all = try walk(2, from: 1, to: 5_000)
        #expect(all.count == 999 && all.first == 3 && all.last == 2_997 && all.allSatisfy { $0 % 3 == 0 })
        #expect(try walk(2, from: 1_500, to: 1_520) == [1_500, 1_503, 1_506, 1_509, 1_512, 1_515, 1_518])
        #expect(try walk(2, from: 2_998, to: 5_000).isEmpty)
        #expect(try walk(7, from: 1, to: 3) == [1] && walk(8, from: 1, to: 3).isEmpty)
        // Lines asked for out of the list's way (a source with nothing listed) are never skipped.
        let empty = try Self.repeatsFile([])
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(try RepeatedLines.Cursor(path: empty, source: 0, from: 1).isDone)
        // A file cut in the middle of an entry, or not there at all, is an error naming it.
        let cut = path + ".cut"
        defer { try? FileManager.default.removeItem(atPath: cut) }
        try Data(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(8 + 16 * 3 + 5)).write(to: URL(fileURLWithPath: cut))
        #expect { _ = try RepeatedLines.Cursor(path: cut, source: 0, from: 1) } throws: { e in
            (e as? ReckonError)?.code == .badData && "\(e)".contains(".cut") && "\(e)".contains("damaged")
        }
        #expect { _ = try RepeatedLines.Cursor(path: path + ".gone", source: 0, from: 1) } throws: { e in
            (e as? ReckonError)?.code == .missingInput && "\(e)".contains("rerun reckon-extract")
        }
    }

    @Test func recordsReadBackAsExtractAcceptedThem() throws {
        let (c, path) = try Self.stage(segmentLines: 1 << 17)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(c.rejected == [7])
        #expect(c.records.count == 7)
        // The request id is not staged (extract has used it); zero quantities are not either
        // (`makeRecord` drops them too). Everything else comes back as it was.
        let expected = c.records.map { r -> UsageRecord in var r = r; r.requestId = nil; return r }
        let back = try Self.readBack(path)
        #expect(back == expected)
        #expect(back.map(\.source.line) == [2, 3, 4, 5, 6, 8, 10])
        // Hand-checked values: the 24-digit token count (more than 64 bits), the hours' scale, a
        // period, lower-cased provider and tier, tag keys normalised and sorted, trace ids.
        let bucket = back[2]
        #expect(bucket.quantities.map(\.meter) == ["tokens_input", "tokens_output", "code_execution_hours"])
        #expect(bucket.quantities[0].quantity.significand == 100_000_000_000_000_000_000_000 && bucket.quantities[0].quantity.scale == 0)
        #expect(bucket.quantities[2].quantity.significand == 150 && bucket.quantities[2].quantity.scale == 2)
        #expect(bucket.periodStart.description == "2026-10-02T00:00:00Z" && bucket.periodEnd.description == "2026-10-03T00:00:00Z")
        #expect(bucket.serviceTier == "batch" && bucket.subAccountId == nil && bucket.tags.isEmpty)
        #expect(back[3].provider == "openai" && back[3].serviceTier == "priority" && back[3].parentSpanId == "s1")
        #expect(back[0].tags.map(\.key) == ["feature_name", "team"] && back[0].tags[0].value == "rerank, v2")
        #expect(back[0].agent == "planner" && back[0].executionId == "ex1" && back[0].spanId == "s1")
        #expect(back[5].quantities.isEmpty && back[5].tags.first?.value == "line one\nline two")
        // Lines quarantined after reading (repeats) are skipped.
        #expect(try Self.readBack(path, skip: [3, 10]).map(\.source.line) == [2, 4, 5, 6, 8])
    }

    /// A JSONL export with more distinct tag keys than the reader keeps (4,096; the rest live only
    /// for their record): every record still reads, and reads back from staging, with its own tags.
    @Test func tagKeysBeyondTheReadersCacheKeepTheirRecords() throws {
        let path = FileManager.default.temporaryDirectory.path + "/reckon-many-tag-keys-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var text = ""
        for i in 0..<4_200 {
            text += #"{"timestamp":"2026-10-05T10:00:00Z","model":"gpt-4o","input_tokens":\#(i + 1),"tags":{"team":"t\#(i % 3)","key \#(i)":"v\#(i)"}}"# + "\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let c = Collector(segmentLines: 1 << 17)
        var counts = RowCounts()
        _ = try GenericUsage.readJSONL(try ByteStream(path: path), file: path, defaults: ["provider": "openai", "billing_account": "org"],
                                       handler: c, progress: &counts)
        try c.writer.finish()
        #expect(counts == RowCounts(rowsRead: 4_200, rowsOut: 4_200, rowsQuarantined: 0))
        let staged = path + ".bin"
        defer { try? FileManager.default.removeItem(atPath: staged) }
        try Data(c.staged).write(to: URL(fileURLWithPath: staged))
        var back: [UsageRecord] = []
        _ = try StagedRecords.forEachView(path: staged, segments: try StagedRecords.segments(path: staged)[...], file: path, repeats: nil) {
            back.append($0.makeRecord())
        }
        for records in [c.records, back] {
            #expect(records.count == 4_200)
            for i in [0, 4_095, 4_096, 4_150, 4_199] {
                #expect(records[i].tags.map { "\($0.key)=\($0.value)" } == ["key_\(i)=v\(i)", "team=t\(i % 3)"])
                #expect(records[i].quantities.map(\.quantity) == [ExactDecimal(i + 1)])
            }
        }
    }

    @Test func segmentsStartAtEachBlockOfLines() throws {
        let (_, path) = try Self.stage(segmentLines: 2)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let segments = try StagedRecords.segments(path: path)
        // Records on lines 2 3 | 4 5 | 6 | 8 | 10 (blocks of two lines: 1–2, 3–4, 5–6, 7–8, 9–10).
        #expect(segments.map(\.firstLine) == [2, 3, 5, 8, 10])
        #expect(segments.map(\.records) == [1, 2, 2, 1, 1])
        #expect(segments.allSatisfy { $0.source == 3 })
        let (c, whole) = try Self.stage(segmentLines: 1 << 17)
        defer { try? FileManager.default.removeItem(atPath: whole) }
        #expect(try Self.readBack(path) == (try Self.readBack(whole)))
        #expect(c.records.count == 7)
    }

    /// Every single damaged byte either still decodes or is refused as bad data naming the file:
    /// never a crash, never an out-of-bounds read.
    @Test func damagedBytesAreRefusedNotCrashedOn() throws {
        let (_, path) = try Self.stage(segmentLines: 3)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        var refused = 0
        let damaged = path + ".damaged"
        defer { try? FileManager.default.removeItem(atPath: damaged) }
        for k in 0..<good.count {
            var bytes = good
            bytes[k] ^= 0xA5
            try bytes.write(to: URL(fileURLWithPath: damaged))
            do { _ = try Self.readBack(damaged) } catch let e as ReckonError {
                #expect(e.code == .badData && e.position?.file == damaged, "\(e)")
                refused += 1
            }
        }
        // Most damage is caught (a changed digit of a quantity or a time can still decode).
        #expect(refused > good.count / 3)
        // Cut short anywhere: refused.
        for n in [1, 20, good.count / 2, good.count - 1] {
            try good.prefix(n).write(to: URL(fileURLWithPath: damaged))
            #expect(throws: ReckonError.self) { _ = try Self.readBack(damaged) }
        }
    }
}

/// Where extract splits a large export for its threads (`GenericSource.parts`): only at a record
/// that begins a block of lines, whatever quoted line feeds surround the places it aims at.
@Suite("Parts of an export")
struct ExportPartsTests {
    /// A CSV whose records 3, 7, 12 and 15 hold quoted line feeds (a record spanning 2, 3, 2 and
    /// 41 lines; record 15 takes up the middle of the file, so a thread's part aims inside quotes).
    /// Returns the path, each record's first line and the byte offset of each line.
    static func quotedExport() throws -> (path: String, recordLines: [Int], lineOffsets: [Int]) {
        var lines = ["timestamp,provider,billing_account,model,input_tokens,tag.note"]
        var recordLines: [Int] = []
        for r in 1...30 {
            recordLines.append(lines.count + 1)
            let note: String
            switch r {
            case 3: note = "\"two\nlines\""
            case 7: note = "\"three\n\"\"quoted\"\"\nlines\""
            case 12: note = "\"a,b\nc\""
            case 15: note = "\"" + String(repeating: "a long, \"\"quoted\"\" note\n", count: 40) + "end\""
            default: note = "plain"
            }
            lines += "2026-10-01T00:00:\(String(format: "%02d", r))Z,openai,acct,gpt-4o,\(r),\(note)".split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
        let text = lines.joined(separator: "\n") + "\n"
        var offsets = [0]
        for (i, b) in text.utf8.enumerated() where b == 0x0A { offsets.append(i + 1) }
        let path = FileManager.default.temporaryDirectory.path + "/reckon-parts-\(UUID().uuidString).csv"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, recordLines, offsets)
    }

    @Test func partsStartOnlyAtABlocksFirstRecordAndCoverTheFile() throws {
        let (path, recordLines, offsets) = try Self.quotedExport()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let size = offsets.last!
        let block = 3
        // The records that begin a block: their first line's block (line − 1 over 3) differs from
        // the previous record's.
        var blockStarts: Set<Int> = []
        for (a, b) in zip(recordLines, recordLines.dropFirst()) where (a - 1) / block != (b - 1) / block { blockStarts.insert(b) }
        // Record 7 spans lines 9–11, across block 3's first line (10): block 3 begins with line 12.
        #expect(blockStarts.contains(4) && blockStarts.contains(12) && !blockStarts.contains(9) && !recordLines.contains(10))
        let source = GenericSource(file: path, format: GenericUsage.kindCSV, size: size, modified: 0, rowsOut: 0, complete: true)
        for n in 2...6 {
            let parts = try source.parts(n, minimumBytes: 1, segmentLines: block)
            #expect(parts.count >= 2 && parts.count <= n, "\(n) threads")
            #expect(parts.first?.range.lowerBound == 0 && parts.first?.firstLine == 1)
            #expect(parts.last?.range.upperBound == size)
            for (a, b) in zip(parts, parts.dropFirst()) {
                #expect(a.range.upperBound == b.range.lowerBound)
                #expect(blockStarts.contains(b.firstLine), "\(n) threads: a part starts on line \(b.firstLine)")
                #expect(offsets[b.firstLine - 1] == b.range.lowerBound, "\(n) threads: line \(b.firstLine) is not at byte \(b.range.lowerBound)")
            }
        }
        // Two parts aim at the middle (byte size / 2), inside record 15's quotes; the first
        // block's first record after it.
        #expect(offsets[recordLines[14] - 1] < size / 2 && size / 2 < offsets[recordLines[15] - 1])
        let middle = try source.parts(2, minimumBytes: 1, segmentLines: block)
        let expected = blockStarts.sorted().first { offsets[$0 - 1] > size / 2 }!
        #expect(middle.map(\.firstLine) == [1, expected])
    }

    /// A compressed file, or one too small for its parts, is one part.
    @Test func aSmallFileIsOnePart() throws {
        let (path, _, offsets) = try Self.quotedExport()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = GenericSource(file: path, format: GenericUsage.kindCSV, size: offsets.last!, modified: 0, rowsOut: 0, complete: true)
        let parts = try source.parts(4, minimumBytes: offsets.last!, segmentLines: 3)
        #expect(parts.count == 1 && parts[0].range == 0..<offsets.last! && parts[0].firstLine == 1)
    }
}
