import ArgumentParser
import ReckonCore
import ReckonJobSupport
import ReckonLoad

/// reckon-load: publishes staged datasets and reports into focus/ and reports/; diffs tables.
struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reckon-load",
        abstract: "Publish the FOCUS datasets (CSV + JSONL) and reports into the hive-partitioned output layout.",
        subcommands: [Run.self, Diff.self], defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the load stage (the default).")
        @OptionGroup var common: CommonOptions

        func run() throws {
            let logger = common.makeLogger("reckon.load")
            try runStage("load", logger: logger, lock: common.layout.output) {
                try LoadStage(layout: common.layout, period: common.billingPeriod, logger: logger).run()
            }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keyed diff of two CSV or JSONL files with exact decimals. Exit 0 when equal, 1 when not.")
        @Argument(help: "The file before.") var before: String
        @Argument(help: "The file after.") var after: String
        @Option(help: "Key columns, comma-separated.") var key: String
        @Option(help: "Per-column tolerance: column=0.01 (absolute) or column=0.5% (relative); repeatable.") var tolerance: [String] = []
        @Option(help: "Folder for summary.md, summary.json, changed.csv, added.csv, removed.csv.") var output: String?

        func tolerances() throws -> [String: TableDiff.Tolerance] {
            var out: [String: TableDiff.Tolerance] = [:]
            for t in tolerance {
                let parts = t.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let tol = TableDiff.Tolerance(parts[1]) else {
                    throw ValidationError("--tolerance must be column=0.01 or column=0.5%")
                }
                out[parts[0]] = tol
            }
            return out
        }

        func validate() throws { _ = try tolerances() }

        func run() throws {
            let logger = stderrLogger("reckon.load")
            var equal = true
            try runStage("diff", logger: logger) {
                let d = try TableDiff.compare(before, after, keys: key.split(separator: ",").map(String.init), tolerances: tolerances())
                if let output { try d.write(to: output) }
                print(d.summaryMarkdown, terminator: "")
                equal = d.isEqual
                var report = StageReport(stage: "diff")
                report.sources = [.init(file: before, kind: "before", counts: RowCounts(rowsRead: d.rowsA, rowsOut: d.rowsA)),
                                  .init(file: after, kind: "after", counts: RowCounts(rowsRead: d.rowsB, rowsOut: d.rowsB))]
                return report
            }
            if !equal { throw ExitCode(1) }
        }
    }
}

Load.main()
