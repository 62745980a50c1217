import Foundation
import Testing
import ReckonCore
@testable import ReckonFocus

/// JSON-object cells (Tags, SkuPriceDetails) are parsed once per distinct text when a file is read
/// or transcoded; these tests check that a repeated text gives the same values and bytes as a new one.
@Suite("FOCUS JSON cells read and transcoded once per distinct text")
struct FocusJSONCellsTests {
    func row(_ n: Int, tags: [(String, String)]) -> FocusRow {
        var r = FocusRow()
        r.set(.billedCost, ExactDecimal(significand: Int128(n), scale: 2))
        r.set(.billingAccountId, "acct-\(n % 3)")
        r.set(.chargeCategory, "Usage")
        r[.tags] = .json(tags.map { ($0.0, JSONValue.string($0.1)) })
        return r
    }

    /// Rows whose tag sets repeat (and one with characters that need escaping in JSON).
    var rows: [FocusRow] {
        let sets: [[(String, String)]] = [[("team", "a")], [("team", "b"), ("env", "prod")], [("note", "say \"hi\"\nthen\tgo \\ ü")], []]
        return (0..<40).map { row($0, tags: sets[$0 % sets.count]) }
    }

    @Test func transcodingRepeatsGivesTheBytesOfWritingEachRow() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckon-json-cells-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let csv = dir + "/rows.csv", direct = dir + "/direct.jsonl", transcoded = dir + "/transcoded.jsonl"
        let w = try FocusWriter(path: csv, format: .csv)
        for r in rows { try w.write(r) }
        try w.commit()
        let d = try FocusWriter(path: direct, format: .jsonl)
        for r in rows { try d.write(r) }
        try d.commit()
        let t = try FocusWriter(path: transcoded, format: .jsonl)
        #expect(try FocusReader.transcode(csv: csv, toJSONL: t) == 40)
        try t.commit()
        let a = try Data(contentsOf: URL(fileURLWithPath: direct)), b = try Data(contentsOf: URL(fileURLWithPath: transcoded))
        #expect(a == b)
        #expect(String(decoding: b, as: UTF8.self).contains(#""Tags":{"note":"say \"hi\"\nthen\tgo \\ ü"}"#))

        // Read back through the cache: every row's tags are its own.
        var read: [FocusRow] = []
        try FocusReader.forEachRow(inCSV: csv) { read.append($0) }
        #expect(read.count == 40)
        for (x, y) in zip(read, rows) { #expect(x[.tags] == y[.tags]) }
    }

    @Test func theCacheGivesBackOnlyTheSameTextAndStartsOverWhenFull() {
        let cache = FocusJSONCache(limit: 2)
        let a = Array(#"{"team":"a"}"#.utf8), b = Array(#"{"team":"b"}"#.utf8), c = Array(#"{"team":"c"}"#.utf8)
        a.withUnsafeBytes { cache.keep($0, [("team", .string("a"))]) }
        #expect(a.withUnsafeBytes { cache.value($0) }?.first?.value.string == "a")
        #expect(b.withUnsafeBytes { cache.value($0) } == nil)
        b.withUnsafeBytes { cache.keep($0, [("team", .string("b"))]) }
        c.withUnsafeBytes { cache.keep($0, [("team", .string("c"))]) }   // full: starts over
        #expect(a.withUnsafeBytes { cache.value($0) } == nil)
        #expect(c.withUnsafeBytes { cache.value($0) }?.first?.value.string == "c")
    }

    /// A large file is decoded on a second thread, a batch ahead: the same rows in the same order,
    /// and a broken line stops the read after the rows before it, with its line, as on one thread.
    @Test func decodingAheadGivesTheSameRowsAndTheSameError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckon-decode-ahead-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let csv = dir + "/rows.csv", broken = dir + "/broken.csv"
        let many = (0..<(FocusReader.batchRows * 2 + 77)).map { row($0, tags: [("team", "t\($0 % 5)")]) }
        try FocusWriter.write(many, to: csv, format: .csv)
        func read(_ path: String, ahead: Bool) -> (rows: [FocusRow], error: ReckonError?) {
            var rows: [FocusRow] = []
            do {
                try FocusReader.forEachRow(inCSV: path, only: nil, decodeAheadBytes: ahead ? 0 : .max) { rows.append($0) }
            } catch { return (rows, error as? ReckonError) }
            return (rows, nil)
        }
        let one = read(csv, ahead: false), two = read(csv, ahead: true)
        #expect(one.rows == many && two.rows == many && one.error == nil && two.error == nil)
        // Line 3,000 (a data row in the second batch) loses a field.
        var lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[2_999] = String(lines[2_999].dropLast(lines[2_999].count - lines[2_999].lastIndex(of: ",")!.utf16Offset(in: lines[2_999])))
        try lines.joined(separator: "\n").write(toFile: broken, atomically: false, encoding: .utf8)
        let b1 = read(broken, ahead: false), b2 = read(broken, ahead: true)
        #expect(b1.rows.count == 2_998 && b2.rows == b1.rows)
        #expect(b1.error?.position?.line == 3_000 && b2.error?.position == b1.error?.position && b2.error?.message == b1.error?.message)
        // The body's own error stops the read at once.
        var seen = 0
        struct Enough: Error {}
        #expect(throws: Enough.self) {
            try FocusReader.forEachRow(inCSV: csv, only: nil, decodeAheadBytes: 0) { _ in seen += 1; if seen == 10 { throw Enough() } }
        }
        #expect(seen == 10)
    }
}
