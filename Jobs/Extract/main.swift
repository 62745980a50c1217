import ArgumentParser
import ReckonCore
import ReckonExtract
import ReckonJobSupport

/// reckon-extract: usage exports and invoices under INPUT → staging/extract/ under OUTPUT.
struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reckon-extract",
        abstract: "Read usage exports (usage/) and invoices (invoices/) into staging/extract/; bad records go to quarantine.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Fail (exit 65) when more than this share of records is quarantined, e.g. 0.01 for 1%.")
    var maxQuarantineShare: String = "0.01"

    @Option(help: "Threads that validate a large uncompressed generic export in parts of at least 8 MiB (default: the processors online, at most 8). The outputs are the same bytes whatever the number.")
    var threads: Int = min(processorsOnline(), 8)
    @Option(help: .hidden) var minPartBytes: Int = 8 << 20
    @Option(help: .hidden) var ledgerBlockKeys: Int = 1 << 18
    @Option(help: "Lines of a generic export per segment of the staged records (staging/extract/usage_records.bin); transform divides its threads and shards by segments. The staged bytes are the same whatever --threads.")
    var segmentLines: Int = StagedRecords.defaultSegmentLines

    func validate() throws {
        guard let share = ExactDecimal(maxQuarantineShare), share >= .zero, share <= 1 else {
            throw ValidationError("--max-quarantine-share must be a decimal between 0 and 1")
        }
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        guard minPartBytes >= 1 else { throw ValidationError("--min-part-bytes must be positive") }
        guard ledgerBlockKeys >= 1 && ledgerBlockKeys <= 1 << 30 else { throw ValidationError("--ledger-block-keys must be between 1 and 2^30") }
        guard segmentLines >= 1 else { throw ValidationError("--segment-lines must be positive") }
    }

    func run() throws {
        let logger = common.makeLogger("reckon.extract")
        var options = ExtractStage.Options()
        options.maxQuarantineShare = ExactDecimal(maxQuarantineShare)!
        options.threads = threads
        options.minimumPartBytes = minPartBytes
        options.segmentLines = segmentLines
        options.ledgerBlockKeys = ledgerBlockKeys
        try runStage("extract", logger: logger, lock: common.layout.output) {
            try ExtractStage(layout: common.layout, options: options, logger: logger).run()
        }
    }
}

Extract.main()
