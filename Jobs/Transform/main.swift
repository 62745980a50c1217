import ArgumentParser
import ReckonCore
import ReckonJobSupport
import ReckonPricing
import ReckonTransform

/// reckon-transform: staging/extract/ + rate cards → FOCUS rows in staging/transform/.
struct Transform: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reckon-transform",
        abstract: "Price usage with the dated rate cards and turn usage and invoices into FOCUS 1.3 rows.",
        subcommands: [Run.self, Merge.self, ImportLiteLLM.self], defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the transform stage (the default).")
        @OptionGroup var common: CommonOptions
        @Option(help: "Threads that price a generic export's staged records, each a run of its segments (default: the processors online, at most 8). They share the --max-cells budget. The outputs are the same bytes whatever the number.")
        var threads: Int = min(processorsOnline(), 8)
        @Option(help: "Output cells held in memory while pricing, about 110 bytes each (default \(TransformStage.defaultMaxCells), about 7 MB). Beyond it cells go to a temporary file in the output folder and the final pass holds one day of cells at a time; the outputs are the same bytes.")
        var maxCells: Int = TransformStage.defaultMaxCells
        @Option(help: "Price only shard i of n (i from 0), e.g. 1/4, and write its partial result for `reckon-transform merge --shards n`.")
        var shard: String?

        var shardIndex: (index: Int, count: Int)? {
            guard let shard else { return nil }
            let parts = shard.split(separator: "/")
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else { return nil }
            return (i, n)
        }

        func validate() throws {
            guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
            guard maxCells >= 1 else { throw ValidationError("--max-cells must be positive") }
            if shard != nil && shardIndex == nil { throw ValidationError("--shard must be i/n with 0 <= i < n, e.g. 0/4") }
        }

        func run() throws {
            let logger = common.makeLogger("reckon.transform")
            let mode: TransformStage.Mode = shardIndex.map { .shard(index: $0.index, count: $0.count) } ?? .full
            // Shards of one output folder run at once: they lock their own shard, not the folder.
            let lock = shardIndex.map { common.layout.stageFolder("transform") + "/shards/lock-\($0.index)" } ?? common.layout.output
            try runStage("transform", logger: logger, lock: lock) {
                try TransformStage(layout: common.layout, period: common.billingPeriod, threads: threads,
                                   mode: mode, maxCells: maxCells, logger: logger).run()
            }
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge the partial results of `--shard i/n` runs and write the transform stage's outputs (the same bytes as one run).")
        @OptionGroup var common: CommonOptions
        @Option(help: "How many shards ran (n).") var shards: Int
        @Option(help: "Output cells held in memory while merging (see `run --max-cells`).")
        var maxCells: Int = TransformStage.defaultMaxCells

        func validate() throws {
            guard shards >= 1 && shards <= 4096 else { throw ValidationError("--shards must be between 1 and 4096") }
            guard maxCells >= 1 else { throw ValidationError("--max-cells must be positive") }
        }

        func run() throws {
            let logger = common.makeLogger("reckon.transform")
            try runStage("transform", logger: logger, lock: common.layout.output) {
                try TransformStage(layout: common.layout, period: common.billingPeriod, mode: .merge(count: shards), maxCells: maxCells,
                                   logger: logger).run()
            }
        }
    }

    struct ImportLiteLLM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-litellm",
            abstract: "Convert LiteLLM's model_prices_and_context_window.json into a Reckon rate card (CSV).")
        @Argument(help: "LiteLLM's price table (JSON).") var file: String
        @Option(help: "The date the imported prices take effect (YYYY-MM-DD): LiteLLM's table has no dates.") var effectiveFrom: String
        @Option(help: "The rate card to write.") var output: String

        func validate() throws {
            guard CivilDate(effectiveFrom) != nil else { throw ValidationError("--effective-from must be YYYY-MM-DD") }
        }

        func run() throws {
            let logger = stderrLogger("reckon.transform")
            try runStage("import-litellm", logger: logger) {
                let doc = try JSONParser.parse(try ByteStream.readAll(path: file))
                let day = CivilDate(effectiveFrom)!
                let (card, rows) = LiteLLMImport.convert(doc, effectiveFrom: day, checkedOn: day)
                try OutputFile.write(card, to: output)
                var report = StageReport(stage: "import-litellm")
                report.sources = [.init(file: file, kind: "litellm", counts: RowCounts(rowsRead: rows, rowsOut: rows))]
                return report
            }
        }
    }
}

Transform.main()
