import ArgumentParser
import ReckonCore
import ReckonJobSupport
import ReckonLoad

/// reckon-load: publishes staged datasets and reports into focus/ and reports/; diffs tables.
struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reckon-load",
        abstract: "Publish the FOCUS datasets (CSV + JSONL) and reports into the hive-partitioned output layout.",
        subcommands: [Run.self, Diff.self, Close.self, Reopen.self, Verify.self, VerifyAudit.self], defaultSubcommand: Run.self)

    /// Options of the month-end commands.
    struct PeriodOptions: ParsableArguments {
        @Option(help: "Output folder.") var output: String = "out"
        @Option(help: "Input folder (hashed into the close manifest).") var input: String = "Samples"
        @Option(help: "The billing period (YYYY-MM).") var period: String

        func validate() throws {
            guard BillingPeriod(period) != nil else { throw ValidationError("--period must be YYYY-MM") }
        }
        var layout: Layout { Layout(input: input, output: output) }
        var billingPeriod: BillingPeriod { BillingPeriod(period)! }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close a billing period: every account matched or within tolerance (or --accept a reason); writes a manifest of SHA-256 hashes and an audit entry.")
        @OptionGroup var options: PeriodOptions
        @Option(help: "Close although an account is beyond tolerance; the reason is recorded.") var accept: String?

        func run() throws {
            let logger = stderrLogger("reckon.load")
            try runStage("close", logger: logger, lock: options.output) {
                let accepted = try PeriodClose(layout: options.layout).close(options.billingPeriod, accept: accept, toolVersion: toolVersion)
                var r = StageReport(stage: "close")
                r.notes = accepted
                return r
            }
        }
    }

    struct Reopen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reopen a closed billing period (audited).")
        @OptionGroup var options: PeriodOptions
        @Option(help: "Why the period is reopened (recorded in the audit trail).") var reason: String

        func run() throws {
            try runStage("reopen", logger: stderrLogger("reckon.load"), lock: options.output) {
                try PeriodClose(layout: options.layout).reopen(options.billingPeriod, reason: reason)
                return StageReport(stage: "reopen")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a closed period's files against its manifest (exit 65 on any difference).")
        @OptionGroup var options: PeriodOptions

        func run() throws {
            try runStage("verify", logger: stderrLogger("reckon.load")) {
                let problems = try PeriodClose(layout: options.layout).verify(options.billingPeriod)
                for p in problems { print(p) }
                if !problems.isEmpty { throw ReckonError(.badData, "\(problems.count) files differ from the close manifest of \(options.period)") }
                print("\(options.period): every file matches the close manifest")
                return StageReport(stage: "verify")
            }
        }
    }

    struct VerifyAudit: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "verify-audit",
            abstract: "Check the audit trail's hash chain; names any edited, removed or reordered entry (exit 65).")
        @Option(help: "Output folder.") var output: String = "out"

        func run() throws {
            try runStage("verify-audit", logger: stderrLogger("reckon.load")) {
                let problems = try AuditTrail(path: output + "/audit/audit.jsonl").verify()
                for p in problems { print(p) }
                if !problems.isEmpty { throw ReckonError(.badData, "the audit trail is broken: \(problems.count) problems") }
                print("audit trail intact")
                return StageReport(stage: "verify-audit")
            }
        }
    }

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
            abstract: "Keyed diff of two CSV or JSONL files with exact decimals. Exit 0 when equal, 1 when not.",
            discussion: "CSV files of more than about 2 million rows are compared in partitions whose hashes wait in unnamed "
                + "temporary files in $TMPDIR (else /tmp), about 40 bytes a row of each file; memory stays near one partition.")
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

/// The version stamped into close manifests.
let toolVersion = "reckon 0.1.0"

Load.main()
