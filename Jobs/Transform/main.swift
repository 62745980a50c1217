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
        subcommands: [Run.self, ImportLiteLLM.self], defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the transform stage (the default).")
        @OptionGroup var common: CommonOptions
        @Option(help: "Threads that price a large uncompressed CSV export in parts of at least 8 MiB (try \(processorsOnline()), the processors online). Each part has its own cell table until they are merged: more memory when most records make a row of their own. The outputs are the same bytes whatever the number.")
        var threads: Int = 1
        @Option(help: .hidden) var minPartBytes: Int = 8 << 20

        func validate() throws {
            guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
            guard minPartBytes >= 1 else { throw ValidationError("--min-part-bytes must be positive") }
        }

        func run() throws {
            let logger = common.makeLogger("reckon.transform")
            try runStage("transform", logger: logger, lock: common.layout.output) {
                try TransformStage(layout: common.layout, period: common.billingPeriod, threads: threads,
                                   minimumPartBytes: minPartBytes, logger: logger).run()
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
