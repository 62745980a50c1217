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
