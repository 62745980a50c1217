import Foundation
import Testing
import ReckonCore

/// Run safety: a second run on the same output folder is refused; a run killed at any moment
/// leaves every published file either as it was or complete, and the next run converges.
@Suite("Run safety", .serialized)
struct CrashTests {
    static func published(_ out: String) -> [String: Data] {
        var files: [String: Data] = [:]
        // Datasets and reports; the diff since the previous run depends on what ran before, and
        // hidden temporary files of a killed run are swept by the next one.
        for f in Jobs.files(under: out) where (f.hasPrefix("focus/") || f.hasPrefix("reports/")) && !f.contains("/diff/")
            && !FileSystem.lastComponent(of: f).hasPrefix(".") {
            files[f] = FileManager.default.contents(atPath: out + "/" + f)
        }
        return files
    }

    static func input(bump: Bool) throws -> String {
        let dir = try Jobs.samplesCopy(bump ? "crash-b" : "crash-a")
        if bump {
            let page = dir + "/usage/provider=anthropic/billing_account=org_01JX8ACME4Q2/messages-2026-10-page-1.json"
            let text = try Jobs.read(page).replacingOccurrences(of: "\"uncached_input_tokens\": 401235", with: "\"uncached_input_tokens\": 401299")
            try text.write(toFile: page, atomically: true, encoding: .utf8)
        }
        return dir
    }

    @Test func aSecondRunOnTheSameOutputIsRefused() throws {
        let out = Jobs.tempDir("locked")
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [out + "/.reckon.lock", "sleep", "5"]
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else { return }
        try holder.run()
        defer { holder.terminate() }
        Thread.sleep(forTimeInterval: 0.3)
        let r = try Jobs.run("reckon-extract", ["--input", "Samples", "--output", out])
        #expect(r.status == 75)
        #expect(r.stderr.contains("another Reckon run is writing this output folder"))
    }

    @Test(.timeLimit(.minutes(1)), .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setsid")))
    func killedRunsLeaveOutputsWholeAndTheNextRunConverges() throws {
        let a = try Self.input(bump: false), b = try Self.input(bump: true)
        // References: the outputs of uninterrupted runs on each input.
        let refA = Jobs.tempDir("ref-a"), refB = Jobs.tempDir("ref-b")
        #expect(try Jobs.nightly(input: a, output: refA).status == 0)
        #expect(try Jobs.nightly(input: b, output: refB).status == 0)
        let before = Self.published(refA), after = Self.published(refB)
        #expect(before.keys.sorted() == after.keys.sorted() && before != after)

        let out = Jobs.tempDir("crash")
        #expect(try Jobs.nightly(input: a, output: out).status == 0)
        var generator = SystemRandomNumberGenerator()
        let script = ["reckon-extract", "reckon-transform", "reckon-reconcile", "reckon-load"]
            .map { "'\(Jobs.binDir)/\($0)' --input '\(b)' --output '\(out)'" }.joined(separator: " && ")
        for _ in 0..<8 {
            // setsid: the shell and the job it runs form a process group, killed together.
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
            p.arguments = ["/bin/sh", "-c", "exec 2>/dev/null; " + script]
            try p.run()
            Thread.sleep(forTimeInterval: Double(UInt64.random(in: 10...900, using: &generator)) / 1000)
            kill(-p.processIdentifier, SIGKILL)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            // Every published file is whole: the previous run's bytes or the new run's.
            for (file, data) in Self.published(out) {
                #expect(data == before[file] || data == after[file], "\(file) is neither the previous nor the new version")
            }
        }
        // The next run converges to exactly what an uninterrupted run writes.
        #expect(try Jobs.nightly(input: b, output: out).status == 0)
        #expect(Self.published(out) == after)
        #expect(!Jobs.files(under: out).contains { $0.contains(".tmp-") })
    }
}
