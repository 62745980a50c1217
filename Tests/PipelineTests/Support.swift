import Foundation
import ReckonCore
import ReckonFocus

/// Runs the built stage executables, as cron does through the Makefile.
enum Jobs {
    static let packageRoot: String = {
        var p = #filePath
        for _ in 0..<3 { p = String(p[..<p.lastIndex(of: "/")!]) }
        return p
    }()

    /// The folder holding reckon-extract & co.: $RECKON_BIN, else the test bundle's own build folder.
    static let binDir: String = {
        if let env = ProcessInfo.processInfo.environment["RECKON_BIN"] { return env }
        let candidates = [Bundle.main.bundleURL.path, Bundle.main.bundleURL.deletingLastPathComponent().path,
                          packageRoot + "/.build/debug"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/reckon-extract") } ?? packageRoot + "/.build/debug"
    }()

    struct Result {
        var status: Int32
        var stderr: String
    }

    @discardableResult
    static func run(_ job: String, _ args: [String]) throws -> Result {
        let (status, stderr) = try launch(job, args, capturing: .stderr)
        return Result(status: status, stderr: stderr)
    }

    /// Runs a job and returns what it printed on stdout.
    static func runStdout(_ job: String, _ args: [String]) throws -> String {
        try launch(job, args, capturing: .stdout).output
    }

    enum Stream { case stdout, stderr }

    /// Runs a built job from the package root, capturing one stream (the other is discarded).
    private static func launch(_ job: String, _ args: [String], capturing stream: Stream) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binDir + "/" + job)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
        let pipe = Pipe()
        p.standardOutput = stream == .stdout ? pipe : FileHandle.nullDevice
        p.standardError = stream == .stderr ? pipe : FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs extract → transform → reconcile → load; returns the first failing result or the last.
    @discardableResult
    static func nightly(input: String, output: String, extra: [String] = []) throws -> Result {
        var last = Result(status: 0, stderr: "")
        for job in ["reckon-extract", "reckon-transform", "reckon-reconcile", "reckon-load"] {
            last = try run(job, ["--input", input, "--output", output] + extra)
            if last.status != 0 { return last }
        }
        return last
    }

    static func tempDir(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "reckon-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A writable copy of the Samples' usage, invoices and rate cards (not their config files).
    static func samplesCopy(_ name: String) throws -> String {
        let dir = tempDir(name)
        for sub in ["usage", "invoices", "ratecards"] {
            try FileManager.default.copyItem(atPath: packageRoot + "/Samples/" + sub, toPath: dir + "/" + sub)
        }
        return dir
    }

    /// `2026-10-DDTHH:MM:SSZ`, zero-padded, for generated exports.
    static func october(day: Int, hour: Int, minute: Int = 0, second: Int = 0) -> String {
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : String(v) }
        return "2026-10-\(two(day))T\(two(hour)):\(two(minute)):\(two(second))Z"
    }

    static func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func read(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    static func files(under dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? [])
            .filter { !FileSystem.isDirectory(dir + "/" + $0) }.sorted()
    }
}
