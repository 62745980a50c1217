import Foundation
import Testing
@testable import ReckonCore

@Suite("Byte readers: gzip, lines, CSV")
struct ReadersTests {
    @Test func gzipIsDetectedByMagicBytesAndInflated() throws {
        let plain = try ByteStream.readAll(path: Fixture.path("lines.jsonl"))
        let stream = try ByteStream(path: Fixture.path("lines.jsonl.gz"))
        var inflated: [UInt8] = []
        while try stream.next({ inflated.append(contentsOf: $0) }) != nil {}
        #expect(stream.isGzip)
        #expect(inflated == plain)
        #expect(plain.count == 103_893)
    }

    @Test func truncatedGzipNamesTheFileAndOffset() throws {
        let path = Fixture.path("truncated.jsonl.gz")
        let error = #expect(throws: ReckonError.self) { _ = try ByteStream.readAll(path: path) }
        #expect(error?.code == .badData)
        #expect(error?.position?.file == path)
        #expect(error?.message.contains("truncated gzip") == true)
        #expect(error?.position?.byteOffset != nil)
    }

    /// Files read ahead past the page cache (`readAheadDirect`) give the same bytes whatever their
    /// size — empty, within the first chunk, a whole number of blocks, an unaligned tail after
    /// several blocks — and a stream dropped after its first blocks stops its reading thread.
    /// A gzip file still reads inflated.
    @Test func filesReadAheadDirectGiveTheSameBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckon-direct-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for size in [0, 100, 1 << 20, (1 << 20) + 5 * 1024 + 3, (5 << 20) + 17, 3 << 21] {
            var bytes = [UInt8](repeating: 0, count: size)
            for i in bytes.indices { x = x &* 6364136223846793005 &+ 1442695040888963407; bytes[i] = UInt8(truncatingIfNeeded: x >> 56) }
            let path = dir + "/f\(size).bin"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let stream = try ByteStream(path: path, readAheadDirect: true)
            var read: [UInt8] = []
            while try stream.next({ read.append(contentsOf: $0) }) != nil {}
            #expect(read == bytes, "\(size) bytes")
            #expect(try stream.next({ _ in 0 }) == nil, "\(size) bytes: the end stays the end")
            // Dropped after one chunk: the thread reading ahead stops (deinit waits for it).
            let dropped = try ByteStream(path: path, readAheadDirect: true)
            _ = try dropped.next { $0.count }
        }
        let gzip = try ByteStream(path: Fixture.path("lines.jsonl.gz"), readAheadDirect: true)
        var inflated: [UInt8] = []
        while try gzip.next({ inflated.append(contentsOf: $0) }) != nil {}
        let plain = try ByteStream.readAll(path: Fixture.path("lines.jsonl"))
        #expect(gzip.isGzip && inflated == plain)
    }

    /// A gzip file of several members and many chunks reads the same inflated on a second thread
    /// as on the caller's; a truncated one throws the same error; a stream dropped half-way stops
    /// its inflating thread.
    @Test func gzipInflatedAheadReadsTheSameBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckon-inflate-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = ""
        for n in 0..<120_000 { text += "\(n),\(n &* 7919 % 100_003),line of text \(n % 97)\n" }  // ~3.6 MB
        try text.write(toFile: dir + "/a.csv", atomically: false, encoding: .utf8)
        func gzip(_ args: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", args]
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(args)")
        }
        // Two members (the file twice), then the same cut short.
        try gzip("cd '\(dir)' && gzip -c a.csv > two.gz && gzip -c a.csv >> two.gz && head -c 1500000 two.gz > cut.gz")
        func read(_ path: String, ahead: Bool) throws -> (bytes: [UInt8], chunks: Int) {
            let stream = try ByteStream(path: path, inflateAhead: ahead)
            var all: [UInt8] = [], chunks = 0
            while try stream.next({ (b: UnsafeRawBufferPointer) -> Void in all.append(contentsOf: b); chunks += 1 }) != nil {}
            let after: Bool? = try stream.next { _ in true }
            #expect(after == nil)  // and stays at the end
            return (all, chunks)
        }
        let plain = Array(text.utf8)
        let onCaller = try read(dir + "/two.gz", ahead: false), ahead = try read(dir + "/two.gz", ahead: true)
        #expect(onCaller.bytes == plain + plain)
        #expect(ahead.bytes == onCaller.bytes && ahead.chunks >= 7)
        let e1 = #expect(throws: ReckonError.self) { _ = try read(dir + "/cut.gz", ahead: false) }
        let e2 = #expect(throws: ReckonError.self) { _ = try read(dir + "/cut.gz", ahead: true) }
        #expect(e1?.message.contains("truncated gzip") == true && e2?.message == e1?.message && e2?.position == e1?.position)
        for n in 0..<60 {
            // Dropped while its thread may be starting the next chunk (each `next()` after the
            // first lets it start one more).
            let stream = try ByteStream(path: dir + "/two.gz", inflateAhead: true)
            var bytes = 0
            for _ in 0..<(n % 4) { _ = try stream.next { bytes += $0.count } }
            #expect(n % 4 == 0 || bytes > 0)
        }
    }

    @Test func linesAcrossChunksKeepTheirNumbers() throws {
        let lines = LineReader(stream: try ByteStream(path: Fixture.path("lines.jsonl.gz")))
        var count = 0, last = ""
        while let text = try lines.next({ String(decoding: $0, as: UTF8.self) }) {
            count += 1
            last = text
        }
        #expect(count == 3000)
        #expect(lines.lineNumber == 3000)
        #expect(last == #"{"n":3000,"amount":"0.0000000375"}"#)
    }

    @Test func csvHandlesQuotesNewlinesCRLFAndBOM() throws {
        let reader = CSVReader(stream: try ByteStream(path: Fixture.path("quoted.csv")))
        let r = CSVRecord()
        var rows: [[String]] = [], lines: [Int] = []
        while try reader.next(into: r) {
            rows.append((0..<r.count).map { r.string($0)! })
            lines.append(r.line)
        }
        #expect(rows == [["id", "name", "amount"], ["1", "Smith, Jane", "12.50"],
                         ["2", "multi\nline \"quoted\"", "0.0000000375"], ["3", "", ""]])
        #expect(lines == [1, 2, 3, 6])
    }

    /// Field ends are found 64 bytes at a time: fields of every length around the window's size,
    /// quoted ones among them, other delimiters, CRLF, and records across the reader's refills.
    @Test func csvFieldsOfEveryLengthAroundTheScanWindow() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckon-csvwin-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lengths = [0, 1, 2, 7, 8, 15, 16, 31, 32, 62, 63, 64, 65, 66, 127, 128, 129, 191, 200]
        for (delimiter, lineEnd) in [(",", "\n"), (";", "\r\n"), ("\t", "\n")] {
            var text = "", expected: [[String]] = []
            var x: UInt64 = 7
            func next(_ n: Int) -> Int { x = x &* 6364136223846793005 &+ 1442695040888963407; return Int((x >> 33) % UInt64(n)) }
            for row in 0..<6000 {
                var fields: [String] = []
                let count = 1 + next(9)
                for k in 0..<count {
                    // (A line of one empty field is a blank line, which the reader skips.)
                    let n = max(lengths[(row + 3 * k + next(4)) % lengths.count], count == 1 ? 1 : 0)
                    let plain = String((0..<n).map { i in Character(UnicodeScalar(UInt8(97 + (row + i) % 26))) })
                    if n > 0 && next(7) == 0 {
                        // Quoted: the delimiter, a quote and a line feed inside.
                        let value = plain + delimiter + "\"" + "\n" + plain
                        fields.append(value)
                        text += "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                    } else {
                        fields.append(plain)
                        text += plain
                    }
                    text += delimiter
                }
                text.removeLast()
                text += lineEnd
                expected.append(fields)
            }
            let path = dir + "/window.csv"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let reader = CSVReader(stream: try ByteStream(path: path), delimiter: UInt8(ascii: delimiter.unicodeScalars.first!))
            let r = CSVRecord()
            var rows: [[String]] = []
            while try reader.next(into: r) { rows.append((0..<r.count).map { r.string($0) ?? "" }) }
            #expect(text.utf8.count > 2_000_000)
            #expect(rows.count == expected.count)
            #expect(rows == expected)
        }
    }

    @Test func unterminatedQuoteNamesTheLine() throws {
        let reader = CSVReader(stream: try ByteStream(path: Fixture.path("unterminated.csv")))
        let r = CSVRecord()
        let error = #expect(throws: ReckonError.self) { while try reader.next(into: r) {} }
        #expect(error?.position?.line == 3)
        #expect(error?.message.contains("unterminated") == true)
    }

    @Test func bareQuoteInAnUnquotedFieldIsAnError() throws {
        let reader = CSVReader(stream: try ByteStream(path: Fixture.path("bare-quote.csv")))
        let r = CSVRecord()
        let error = #expect(throws: ReckonError.self) { while try reader.next(into: r) {} }
        #expect(error?.position?.line == 2)
    }

    @Test func missingFileIsMissingInput() {
        let error = #expect(throws: ReckonError.self) { _ = try ByteStream(path: "/nonexistent/usage.json") }
        #expect(error?.code.exitStatus == .noInput)
    }

    @Test func csvWriterQuotesOnlyWhenNeededAndKeepsNullsBare() {
        #expect(CSVWriter.line(["a", nil, "b,c", "say \"hi\"", ""]) == "a,,\"b,c\",\"say \"\"hi\"\"\",\"\"\n")
    }
}

@Suite("JSON")
struct JSONTests {
    @Test func numbersKeepTheirTextForExactDecimals() throws {
        let v = try JSONParser.parse(#"{"a": 0.0000000375, "b": "12.50", "c": [1, -2e-3, true, null], "d": "\u00e9\ud83d\ude00"}"#)
        #expect(v["a"] == .number("0.0000000375"))
        #expect(v["a"]?.decimal == "0.0000000375")
        #expect(v["b"]?.decimal == "12.5")
        #expect(v["c"]?.array?[1].decimal == "-0.002")
        #expect(v["d"]?.string == "é😀")
    }

    @Test(arguments: [
        (#"{"a": 1,}"#, 8), (#"{"a": 1, "a": 2}"#, 9), (#"[1, 2"#, 5), (#"{"a": 01}"#, 7), (#"{"a": NaN}"#, 6), (#"["\x"]"#, 3),
    ])
    func syntaxErrorsHaveByteOffsets(text: String, offset: Int) {
        let error = #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse(text) }
        #expect(error?.byteOffset == offset)
    }

    @Test func invalidUTF8IsRejected() {
        #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func writerRoundTripsAndIsDeterministic() throws {
        let text = #"{"z":1,"a":[0.10,"x\ny"],"m":{"k":null}}"#
        let v = try JSONParser.parse(text)
        #expect(JSONWriter.write(v) == text)
    }
}

@Suite("Time")
struct TimeTests {
    @Test func civilDatesRoundTripThroughDays() {
        for days in stride(from: -800_000, through: 800_000, by: 997) {
            let d = CivilDate(daysSinceEpoch: days)
            #expect(d.daysSinceEpoch == days)
        }
        #expect(CivilDate("2026-10-01")?.daysSinceEpoch == 20727)
        #expect(CivilDate("20240229") != nil)
        #expect(CivilDate("2026-02-29") == nil)
    }

    @Test func timestampsParseRFC3339AndPrintFocusFormat() {
        #expect(Timestamp(rfc3339: "2026-10-01T00:00:00Z")?.description == "2026-10-01T00:00:00Z")
        #expect(Timestamp(rfc3339: "2026-10-01T02:30:00+02:00")?.description == "2026-10-01T00:30:00Z")
        #expect(Timestamp(rfc3339: "2026-10-01T00:00:00.123Z")?.description == "2026-10-01T00:00:00Z")
        #expect(Timestamp(rfc3339: "2026-10-01T00:00:00") == nil)
        #expect(Timestamp(rfc3339: "2026-10-01") == nil)
    }

    @Test func theCommonTimestampFormAgreesWithTheGeneralParser() {
        // `…Z` (20 bytes) takes the straight-line path; `…+00:00` and `…z` the general one.
        let valid = ["2026-10-01T15:10:11Z", "2024-02-29T12:00:00Z", "2026-12-31T23:59:60Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                     "1969-12-31T23:59:59Z"]
        for text in valid {
            let fast = Timestamp(rfc3339: text)
            #expect(fast != nil, "\(text)")
            #expect(fast == Timestamp(rfc3339: text.dropLast() + "+00:00") && fast == Timestamp(rfc3339: text.dropLast() + "z"), "\(text)")
        }
        #expect(Timestamp(rfc3339: "1969-12-31T23:59:59Z")?.secondsSinceEpoch == -1)
        #expect(Timestamp(rfc3339: "2026-10-01T15:10:11Z")?.secondsSinceEpoch == 1_790_867_411)
        let invalid = ["2026-02-29T00:00:00Z", "2026-10-01T24:00:00Z", "2026-10-01T00:60:00Z", "2026-10-01T00:00:61Z", "2026-13-01T00:00:00Z",
                       "2026-00-10T00:00:00Z", "2026-10-00T00:00:00Z", "0000-01-01T00:00:00Z", "2026-1a-01T00:00:00Z", "/026-10-01T00:00:00Z",
                       "2026-10-01T00:00:0:Z", "2026-10-01X00:00:00Z", "2026-10-01T00:00:00Y", " 026-10-01T00:00:00Z"]
        for text in invalid { #expect(Timestamp(rfc3339: text) == nil, "\(text)") }
    }

    @Test func billingPeriodsAreHalfOpenMonths() {
        let p = BillingPeriod("2026-12")!
        #expect(p.start.description == "2026-12-01T00:00:00Z")
        #expect(p.end.description == "2027-01-01T00:00:00Z")
        #expect(p.contains(Timestamp(rfc3339: "2026-12-31T23:59:59Z")!))
        #expect(!p.contains(p.end))
        #expect(BillingPeriod("2026-13") == nil)
        #expect(BillingPeriod("26-10") == nil)
    }
}

@Suite("Files and hashing")
struct FilesTests {
    @Test func sha256KnownVectors() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func uncommittedWritesLeaveThePreviousFileIntact() throws {
        let dir = "/tmp/reckon-test-\(getpid())-atomic"
        let path = dir + "/report.json"
        try OutputFile.write("old\n", to: path)
        do {
            let f = try OutputFile(path: path)
            try f.write("new, but the run is killed before commit\n")
        }  // released without commit
        #expect(try ByteStream.readAll(path: path) == Array("old\n".utf8))
        #expect(try FileSystem.files(under: dir) == [path])  // no temp file left
        try OutputFile.write("new\n", to: path)
        #expect(try ByteStream.readAll(path: path) == Array("new\n".utf8))
    }

    /// Load publishes staged files by linking them: the target is replaced atomically, a file
    /// that was there lives on under its other name, linking a file to a name it already has
    /// leaves nothing behind, and across file systems (tmpfs → disk) it copies instead.
    @Test func linkedFilesReplaceTheTargetAndKeepTheOldOneUnderItsOtherName() throws {
        let dir = "/tmp/reckon-test-\(getpid())-link"
        defer {
            for f in (try? FileSystem.files(under: dir, includeHidden: true)) ?? [] { FileSystem.remove(f) }
        }
        func inode(_ path: String) -> UInt64 { var st = stat(); return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0 }
        try OutputFile.write("night 1\n", to: dir + "/staging/a.csv")
        try OutputFile.link(dir + "/staging/a.csv", to: dir + "/focus/a.csv")      // a new name, in a new folder
        #expect(try ByteStream.readAll(path: dir + "/focus/a.csv") == Array("night 1\n".utf8))
        #expect(inode(dir + "/focus/a.csv") == inode(dir + "/staging/a.csv"))
        // The next night: staging rewritten (a new file), the published one kept as previous, then replaced.
        try OutputFile.write("night 2\n", to: dir + "/staging/a.csv")
        try OutputFile.link(dir + "/focus/a.csv", to: dir + "/previous/a.csv")
        try OutputFile.link(dir + "/staging/a.csv", to: dir + "/focus/a.csv")
        #expect(try ByteStream.readAll(path: dir + "/previous/a.csv") == Array("night 1\n".utf8))
        #expect(try ByteStream.readAll(path: dir + "/focus/a.csv") == Array("night 2\n".utf8))
        // Again without a new staging: the names are one file already; no temporary name is left.
        try OutputFile.link(dir + "/staging/a.csv", to: dir + "/focus/a.csv")
        #expect(try FileSystem.files(under: dir, includeHidden: true).sorted()
                == [dir + "/focus/a.csv", dir + "/previous/a.csv", dir + "/staging/a.csv"])
        if FileSystem.isDirectory("/dev/shm") {
            let shm = "/dev/shm/reckon-test-\(getpid())-link.csv"
            defer { FileSystem.remove(shm) }
            try OutputFile.write("from tmpfs\n", to: shm)
            try OutputFile.link(shm, to: dir + "/focus/a.csv")
            #expect(try ByteStream.readAll(path: dir + "/focus/a.csv") == Array("from tmpfs\n".utf8))
            #expect(inode(dir + "/focus/a.csv") != inode(shm))
        }
    }

    /// Large outputs are written behind, in whole 4 KiB blocks with O_DIRECT where the file
    /// system takes it (ext4 here) and through the page cache where it does not (tmpfs): either
    /// way every byte lands in order, whatever the sizes of the writes, and a file released
    /// before commit leaves nothing.
    @Test func writtenBehindFilesHoldExactlyTheBytesWritten() throws {
        var folders = ["/tmp/reckon-behind-\(getpid())"]
        if FileSystem.isDirectory("/dev/shm") { folders.append("/dev/shm/reckon-behind-\(getpid())") }
        for folder in folders {
            defer {
                for f in (try? FileSystem.files(under: folder, includeHidden: true)) ?? [] { FileSystem.remove(f) }
                rmdir(folder)
            }
            var x: UInt64 = 42
            func next(_ n: Int) -> Int { x = x &* 6364136223846793005 &+ 1442695040888963407; return Int((x >> 33) % UInt64(n)) }
            // The last sizes hand more buffers to the background than it writes at once
            // (`OutputFile.writeDepth`): slots are reused while earlier writes may still run.
            for total in [0, 1, 4095, 4096, 4097, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 17, 9 * (1 << 20) + 4097, 23 * (1 << 20) + 5] {
                let path = folder + "/out-\(total).csv"
                var expected: [UInt8] = []
                let f = try OutputFile(path: path, writeBehind: true)
                while expected.count < total {
                    // Pieces of 1 byte to 2 MiB (larger than the buffer), of varying content.
                    let n = min(total - expected.count, [1, 7, 700, 5000, 2 << 20][next(5)])
                    let piece = (0..<n).map { UInt8(truncatingIfNeeded: $0 &+ expected.count &* 31) }
                    try piece.withUnsafeBytes { try f.write(raw: $0) }
                    expected += piece
                }
                try f.commit()
                #expect(try ByteStream.readAll(path: path) == expected, "\(folder) \(total)")
            }
            do {
                let f = try OutputFile(path: folder + "/dropped.csv", writeBehind: true)
                try f.write(bytes: [UInt8](repeating: 65, count: 3 << 20))
            }
            #expect(try FileSystem.files(under: folder, includeHidden: true).allSatisfy { !$0.contains("dropped") })
        }
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif
