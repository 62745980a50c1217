import Foundation
import Testing
import ReckonCore

/// Pricing a large export in parts on several threads gives the same bytes as one thread.
@Suite("Threads: the same outputs whatever the number", .serialized)
struct ThreadsTests {
    /// About 1.5 MB of generic usage: tags with quoted commas and line breaks (so a part boundary
    /// must not fall inside quotes), traces with parent spans, an unknown model (unpriced, in the
    /// quarantine in record order), a repeated request id (quarantined by extract, skipped here).
    static func export() -> String {
        var csv = "timestamp,provider,billing_account,sub_account,model,input_tokens,output_tokens,request_id,agent,execution_id,span_id,parent_span_id,tag.team,tag.note\n"
        let models = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "o4-mini"]
        var x: UInt64 = 7
        func next(_ n: Int) -> Int { x = x &* 6364136223846793005 &+ 1442695040888963407; return Int((x >> 33) % UInt64(n)) }
        for i in 0..<12_000 {
            let day = 1 + i % 28, hour = next(24)
            let model = i % 997 == 0 ? "gpt-9-unknown" : models[next(models.count)]
            let note = i % 5 == 0 ? "\"line one\nline \"\"two\"\", with a comma\"" : "plain"
            let id = i == 5_000 ? "req-17" : "req-\(i)"
            csv += Jobs.october(day: day, hour: hour) + ",openai,org_T,proj_\(next(3)),\(model),"
            csv += "\(next(400_000)),\(next(20_000)),\(id),agent-\(next(2)),exec-\(i / 7),span-\(i),\(i % 7 == 0 ? "" : "span-\(i - 1)"),"
            csv += "\(["search", "support", "billing"][next(3)]),\(note)\n"
            if i % 3001 == 1500 { csv += Jobs.october(day: 2, hour: 1) + ",openai,org_T,proj_1,gpt-4o,12,not-a-number\n" }  // quarantined
        }
        return csv
    }

    /// About 1.3 MB of the same kind of usage as JSONL (escaped line breaks inside strings; a JSONL
    /// part may start at any line feed).
    static func jsonlExport() -> String {
        var out = ""
        let models = ["gpt-4o", "gpt-4.1", "o4-mini"]
        var x: UInt64 = 11
        func next(_ n: Int) -> Int { x = x &* 6364136223846793005 &+ 1442695040888963407; return Int((x >> 33) % UInt64(n)) }
        for i in 0..<8_000 {
            let model = i % 499 == 0 ? "gpt-9-unknown" : models[next(models.count)]
            out += "{\"timestamp\":\"\(Jobs.october(day: 1 + i % 28, hour: next(24)))\",\"provider\":\"openai\",\"billing_account\":\"org_J\","
            out += "\"model\":\"\(model)\",\"input_tokens\":\(next(300_000)),\"output_tokens\":\(next(9_000)),\"request_id\":\"json-\(i)\","
            out += "\"span_id\":\"js-\(i)\",\"tags\":{\"team\":\"\(["search", "ops"][next(2)])\",\"note\":\"a\\nb \(i % 3)\"}}\n"
        }
        return out
    }

    /// Also with a cell table too small for the month: cells spill to a temporary file and the
    /// final pass reads them back a day at a time (the same bytes again, and no file left behind);
    /// and with extract's request ids written to a file in small blocks (the same repeat found).
    @Test func oneTwoAndThreeThreadsWriteTheSameBytes() throws {
        let dir = Jobs.tempDir("threads")
        try Jobs.write(Self.export(), to: dir + "/usage/export.csv")
        try Jobs.write(Self.jsonlExport(), to: dir + "/usage/export.jsonl")
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/openai.csv", toPath: dir + "/ratecards/openai.csv")
        var outputs: [[String: Data]] = []
        for (threads, maxCells) in [(1, nil), (2, nil), (3, nil), (1, 500), (2, 333), (3, 1)] as [(Int, Int?)] {
            let out = Jobs.tempDir("threads-\(threads)-\(maxCells ?? 0)")
            // With the small cell table, the request-id ledger writes blocks of 100 ids to a file too.
            let x = try Jobs.run("reckon-extract", ["--input", dir, "--output", out, "--threads", String(threads), "--min-part-bytes", "200000",
                                                    "--segment-lines", "2000"] + (maxCells == nil ? [] : ["--ledger-block-keys", "100"]))
            #expect(x.status == 0, "\(x.stderr)")
            #expect(try Jobs.read(out + "/staging/extract/manifest.json").contains("request ids checked for repeats from blocks written to a temporary file")
                    == (maxCells != nil))
            let r = try Jobs.run("reckon-transform", ["--input", dir, "--output", out, "--threads", String(threads)]
                                 + (maxCells.map { ["--max-cells", String($0)] } ?? []))
            #expect(r.status == 0, "\(r.stderr)")
            let manifest = try Jobs.read(out + "/staging/transform/manifest.json")
            #expect(threads == 1 ? !manifest.contains("parts on") : manifest.contains("export.csv: priced in \(threads) parts on \(threads) threads"))
            #expect(threads == 1 ? !manifest.contains("parts on") : manifest.contains("export.jsonl: priced in \(threads) parts on \(threads) threads"))
            #expect(manifest.contains("cells spilled to a temporary file") == (maxCells != nil), "\(manifest)")
            let hidden = (try FileManager.default.contentsOfDirectory(atPath: out + "/staging/transform")).filter { $0.hasPrefix(".") }
            #expect(hidden.isEmpty, "\(hidden)")
            var files: [String: Data] = [:]
            for f in Jobs.files(under: out + "/staging/transform") where !f.hasSuffix("manifest.json") {
                files[f] = FileManager.default.contents(atPath: out + "/staging/transform/" + f)
            }
            // Extract's outputs too, the staged records included (its manifest without the run's seconds).
            for f in Jobs.files(under: out + "/staging/extract") where !f.hasSuffix("manifest.json") {
                files["extract/" + f] = FileManager.default.contents(atPath: out + "/staging/extract/" + f)
            }
            let extractManifest = try JSONParser.parse(Array(Jobs.read(out + "/staging/extract/manifest.json").utf8))
            #expect(try Jobs.read(out + "/staging/extract/manifest.json").contains("export.csv: validated in \(threads) parts") == (threads > 1))
            files["extract/totals"] = Data(JSONWriter.write(extractManifest["totals"] ?? .null).utf8)
            outputs.append(files)
        }
        #expect(outputs[0].count >= 10 && (outputs[0]["extract/usage_records.bin"]?.count ?? 0) > 100_000)
        for k in 1..<outputs.count { #expect(outputs[k] == outputs[0], "run \(k)") }
        // The run really priced, quarantined and rolled up something.
        let quarantine = String(decoding: outputs[0]["quarantine.jsonl"] ?? Data(), as: UTF8.self)
        // Extract quarantined the 4 malformed lines and the repeated request id, whatever the threads.
        let extractQuarantine = String(decoding: outputs[0]["extract/quarantine.jsonl"] ?? Data(), as: UTF8.self)
        #expect(extractQuarantine.components(separatedBy: "\n").filter { !$0.isEmpty }.count == 5)
        #expect(extractQuarantine.contains("duplicate request_id") && extractQuarantine.contains("not-a-number"))
        // 13 CSV and 17 JSONL records × input and output.
        #expect(quarantine.components(separatedBy: "gpt-9-unknown").count - 1 == 2 * 13 + 2 * 17)
        #expect((outputs[0]["rollups/billing_period=2026-10/spans.csv"]?.count ?? 0) > 100_000)
    }

    /// A file that breaks off (its last record opens a quote that never closes) is read by several
    /// threads exactly as by one: same quarantine, same counts, same exit status.
    @Test func aBrokenExportBreaksOffAtTheSamePlaceWithThreads() throws {
        let dir = Jobs.tempDir("broken")
        let csv = Self.export() + Jobs.october(day: 3, hour: 4) + ",openai,org_T,proj_1,gpt-4o,1,1,req-broken,a,e,s,,x,\"never closed\n"
        try Jobs.write(csv, to: dir + "/usage/export.csv")
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/openai.csv", toPath: dir + "/ratecards/openai.csv")
        var results: [(status: Int32, quarantine: String, totals: String)] = []
        var estimates: [String] = []
        for threads in [1, 3] {
            let out = Jobs.tempDir("broken-\(threads)")
            let r = try Jobs.run("reckon-extract", ["--input", dir, "--output", out, "--threads", String(threads), "--min-part-bytes", "200000",
                                                    "--segment-lines", "1000", "--max-quarantine-share", "1"])
            let manifest = try Jobs.read(out + "/staging/extract/manifest.json")
            #expect(manifest.contains("validated in 3 parts") == (threads == 3))
            let m = try JSONParser.parse(Array(manifest.utf8))
            results.append((r.status, try Jobs.read(out + "/staging/extract/quarantine.jsonl"), JSONWriter.write(m["totals"] ?? .null)))
            // Transform prices the records staged before the break (in parts on several threads).
            let t = try Jobs.run("reckon-transform", ["--input", dir, "--output", out, "--threads", String(threads)])
            #expect(t.status == 0, "\(t.stderr)")
            #expect(try Jobs.read(out + "/staging/transform/manifest.json").contains("priced in 3 parts") == (threads == 3))
            estimates.append(try Jobs.read(out + "/staging/transform/estimated/billing_period=2026-10/part-00000.csv"))
        }
        #expect(estimates[0].count > 100_000 && estimates[0] == estimates[1])
        #expect(results[0].status == results[1].status && results[0].quarantine == results[1].quarantine && results[0].totals == results[1].totals)
        #expect(results[0].quarantine.contains("unterminated"), "\(results[0].quarantine.suffix(400))")
        // 12,000 records and 4 malformed lines before the break, and the broken rest quarantined as one.
        #expect(results[0].totals.contains("\"rows_read\":12005"), "\(results[0].totals)")
    }

    /// A part that quarantines more than 4 MiB of lines keeps the rest in a temporary file: the
    /// quarantine is still the same bytes as one thread's, and nothing is left behind.
    @Test func aPartFullOfBadRecordsGivesTheSameQuarantine() throws {
        let dir = Jobs.tempDir("bad")
        var csv = "timestamp,provider,billing_account,model,input_tokens,request_id\n"
        let filler = String(repeating: "x", count: 40)
        for i in 0..<90_000 {
            csv += i % 10 == 0 ? "2026-10-0\(1 + i % 9)T00:00:00Z,openai,org,gpt-4o,\(i),r\(i)\n"
                               : "2026-10-0\(1 + i % 9)T00:00:00Z,openai,org,gpt-4o,n\(i),r\(i),extra-\(filler)\n"
        }
        try Jobs.write(csv, to: dir + "/usage/bad.csv")
        var quarantines: [Data] = []
        for threads in [1, 3] {
            let out = Jobs.tempDir("bad-\(threads)")
            let r = try Jobs.run("reckon-extract", ["--input", dir, "--output", out, "--threads", String(threads), "--min-part-bytes", "1000000",
                                                    "--segment-lines", "10000", "--max-quarantine-share", "1"])
            #expect(r.status == 0, "\(r.stderr)")
            quarantines.append(FileManager.default.contents(atPath: out + "/staging/extract/quarantine.jsonl") ?? Data())
            let hidden = try FileManager.default.contentsOfDirectory(atPath: out + "/staging/extract").filter { $0.hasPrefix(".") }
            #expect(hidden.isEmpty, "\(hidden)")
        }
        #expect(quarantines[0].count > 3 * (4 << 20))   // every part overflowed its 4 MiB
        #expect(quarantines[0] == quarantines[1])
    }

    /// A second export (and a JSONL one) that repeat most of the first's request ids: the repeats
    /// are found again by reading their parts on three threads, and the quarantine, the list of
    /// repeated lines, the counts and the estimate are the same bytes as one thread's.
    @Test func repeatsAreFoundInPartsAsByOneThread() throws {
        let dir = Jobs.tempDir("repeats")
        let first = Self.export()
        var second = ""
        for (k, record) in first.components(separatedBy: ",org_T,").enumerated() {
            // Every third record gets an id of its own; the others repeat the first export's.
            second += (k == 0 ? "" : ",org_T,") + (k % 3 == 0 ? record.replacingOccurrences(of: ",req-", with: ",own-") : record)
        }
        try Jobs.write(first, to: dir + "/usage/a.csv")
        try Jobs.write(second, to: dir + "/usage/b.csv")
        // A JSONL export whose ids req-0 … req-7999 are the first export's (but for req-5000, which
        // it does not have): its parts start at any line feed.
        try Jobs.write(Self.jsonlExport().replacingOccurrences(of: "\"request_id\":\"json-", with: "\"request_id\":\"req-"),
                       to: dir + "/usage/c.jsonl")
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/openai.csv", toPath: dir + "/ratecards/openai.csv")
        var outputs: [[String: Data]] = []
        for threads in [1, 3] {
            let out = Jobs.tempDir("repeats-\(threads)")
            let x = try Jobs.run("reckon-extract", ["--input", dir, "--output", out, "--threads", String(threads), "--min-part-bytes", "200000",
                                                    "--segment-lines", "1000", "--max-quarantine-share", "1"])
            #expect(x.status == 0, "\(x.stderr)")
            let manifest = try Jobs.read(out + "/staging/extract/manifest.json")
            #expect(manifest.contains("b.csv: validated in 3 parts") == (threads == 3) && manifest.contains("c.jsonl: validated in 3 parts") == (threads == 3))
            let t = try Jobs.run("reckon-transform", ["--input", dir, "--output", out, "--threads", String(threads)])
            #expect(t.status == 0, "\(t.stderr)")
            var files: [String: Data] = [:]
            for f in ["extract/quarantine.jsonl", "extract/usage_repeats.bin", "extract/usage_sources.jsonl",
                      "transform/estimated/billing_period=2026-10/part-00000.csv"] {
                files[f] = FileManager.default.contents(atPath: out + "/staging/" + f)
            }
            let m = try JSONParser.parse(Array(Jobs.read(out + "/staging/extract/manifest.json").utf8))
            files["totals"] = Data(JSONWriter.write(m["totals"] ?? .null).utf8)
            outputs.append(files)
        }
        // 16 bytes a repeated line after the 8-byte header: a's one repeat (req-17), b's 8,000, c's 7,999.
        let repeated = ((outputs[0]["extract/usage_repeats.bin"]?.count ?? 0) - 8) / 16
        #expect(repeated == 16_000, "\(repeated)")
        // Quarantined: those repeats and each CSV file's 4 malformed lines.
        #expect(String(decoding: outputs[0]["totals"] ?? Data(), as: UTF8.self) == #"{"rows_read":32008,"rows_out":16000,"rows_quarantined":16008,"balanced":true}"#)
        #expect(outputs[0] == outputs[1])
    }

    /// Transform's parts keep their unpriced-usage entries in 4 MiB of memory and the rest in a
    /// temporary file: a month of a model with no rate gives the same quarantine with three
    /// threads as with one, and leaves nothing behind.
    @Test func partsFullOfUnpricedUsageGiveTheSameQuarantine() throws {
        let dir = Jobs.tempDir("unpriced")
        var csv = "timestamp,provider,billing_account,model,input_tokens,output_tokens,request_id\n"
        for i in 0..<45_000 {
            csv += "2026-10-\(10 + i % 19)T0\(i % 10):00:00Z,openai,org,\(i % 50 == 0 ? "gpt-4o" : "gpt-9-unknown"),\(i + 1),\(i % 7 + 1),r\(i)\n"
        }
        try Jobs.write(csv, to: dir + "/usage/unpriced.csv")
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/openai.csv", toPath: dir + "/ratecards/openai.csv")
        var results: [(status: Int32, quarantine: Data, estimate: Data)] = []
        for threads in [1, 3] {
            let out = Jobs.tempDir("unpriced-\(threads)")
            let x = try Jobs.run("reckon-extract", ["--input", dir, "--output", out, "--segment-lines", "3000"])
            #expect(x.status == 0, "\(x.stderr)")
            let t = try Jobs.run("reckon-transform", ["--input", dir, "--output", out, "--threads", String(threads)])
            #expect(try Jobs.read(out + "/staging/transform/manifest.json").contains("priced in 3 parts") == (threads == 3))
            results.append((t.status, FileManager.default.contents(atPath: out + "/staging/transform/quarantine.jsonl") ?? Data(),
                            FileManager.default.contents(atPath: out + "/staging/transform/estimated/billing_period=2026-10/part-00000.csv") ?? Data()))
            let hidden = try FileManager.default.contentsOfDirectory(atPath: out + "/staging/transform").filter { $0.hasPrefix(".") }
            #expect(hidden.isEmpty, "\(hidden)")
        }
        // 44,100 records of the unknown model, two meters each; every part passed its 4 MiB.
        let lines = String(decoding: results[0].quarantine, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 88_200 && lines.allSatisfy { $0.contains("unpriced_usage: no rate for openai gpt-9-unknown") })
        #expect(results[0].quarantine.count > 3 * (4 << 20))
        #expect(results[0].status == results[1].status && results[0].quarantine == results[1].quarantine)
        #expect(results[0].estimate.count > 1_000 && results[0].estimate == results[1].estimate)
    }

    /// Shard mode: n shards price their runs of segments of the staged records (on one machine
    /// here; on n machines when the output folder is shared), `merge` combines them; staging is the
    /// same bytes as one run for 1, 2 and 4.
    @Test func oneTwoAndFourShardsWriteTheSameBytes() throws {
        let dir = Jobs.tempDir("shards")
        try Jobs.write(Self.export(), to: dir + "/usage/export.csv")
        try Jobs.write(Self.export().replacingOccurrences(of: "org_T", with: "org_U").replacingOccurrences(of: ",req-", with: ",second-"), to: dir + "/usage/second.csv")
        // A JSONL export and a gzip one (staged in segments like any other: one here, it is small).
        try Jobs.write(Self.jsonlExport(), to: dir + "/usage/third.jsonl")
        try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Tests/ExtractTests/Fixtures/usage/good.csv.gz", toPath: dir + "/usage/fourth.csv.gz")
        try FileManager.default.createDirectory(atPath: dir + "/ratecards", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Jobs.packageRoot + "/Samples/ratecards/openai.csv", toPath: dir + "/ratecards/openai.csv")
        func staging(_ out: String) -> [String: Data] {
            var files: [String: Data] = [:]
            for f in Jobs.files(under: out + "/staging/transform") where !f.hasSuffix("manifest.json") && !f.hasPrefix("shards/") {
                files[f] = FileManager.default.contents(atPath: out + "/staging/transform/" + f)
            }
            return files
        }
        let single = Jobs.tempDir("shards-1")
        #expect(try Jobs.run("reckon-extract", ["--input", dir, "--output", single, "--segment-lines", "1500"]).status == 0)
        #expect(try Jobs.run("reckon-transform", ["--input", dir, "--output", single]).status == 0)
        let expected = staging(single)
        #expect(expected.count >= 10)
        for n in [1, 2, 4] {
            let out = Jobs.tempDir("shards-\(n)-of")
            #expect(try Jobs.run("reckon-extract", ["--input", dir, "--output", out, "--segment-lines", "1500"]).status == 0)
            for i in 0..<n {
                // Shard 0 of 4 spills its cells; so does the merge of 4.
                let spill = n == 4 && i == 0 ? ["--max-cells", "100"] : []
                let r = try Jobs.run("reckon-transform", ["--input", dir, "--output", out, "--shard", "\(i)/\(n)"] + spill)
                #expect(r.status == 0, "\(r.stderr)")
            }
            // A merge before every shard has run is refused.
            if n > 1 {
                try FileManager.default.moveItem(atPath: out + "/staging/transform/shards/shard-1-of-\(n).jsonl", toPath: out + "/held")
                let early = try Jobs.run("reckon-transform", ["merge", "--input", dir, "--output", out, "--shards", String(n)])
                #expect(early.status == 66 && early.stderr.contains("shard 2 of \(n) has not run"))
                try FileManager.default.moveItem(atPath: out + "/held", toPath: out + "/staging/transform/shards/shard-1-of-\(n).jsonl")
            }
            let m = try Jobs.run("reckon-transform", ["merge", "--input", dir, "--output", out, "--shards", String(n)]
                                 + (n == 4 ? ["--max-cells", "1000"] : []))
            #expect(m.status == 0, "\(m.stderr)")
            #expect(try Jobs.read(out + "/staging/transform/manifest.json").contains("cells spilled") == (n == 4))
            #expect(staging(out) == expected, "\(n) shards")
            // Results of an older extract run are not merged with tonight's (one more record arrived).
            if n == 2 {
                let more = dir + "/usage/later.csv"
                try Jobs.write("timestamp,provider,billing_account,model,input_tokens\n2026-10-05T01:00:00Z,openai,org_T,gpt-4o,10\n", to: more)
                defer { try? FileManager.default.removeItem(atPath: more) }
                #expect(try Jobs.run("reckon-extract", ["--input", dir, "--output", out]).status == 0)
                let stale = try Jobs.run("reckon-transform", ["merge", "--input", dir, "--output", out, "--shards", "2"])
                #expect(stale.status == 65 && stale.stderr.contains("priced another extract run"))
            }
        }
        #expect(try Jobs.run("reckon-transform", ["--input", dir, "--output", single, "--shard", "4/4"]).status == 64)
    }
}
