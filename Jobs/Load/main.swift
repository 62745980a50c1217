import ArgumentParser
import ReckonJobSupport
import ReckonLoad

/// reckon-load: publishes staged datasets and reports into focus/ and reports/.
struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reckon-load",
        abstract: "Publish the FOCUS datasets (CSV + JSONL) and reports into the hive-partitioned output layout.")

    @OptionGroup var common: CommonOptions

    func run() throws {
        let logger = common.makeLogger("reckon.load")
        try runStage("load", logger: logger) {
            try LoadStage(layout: common.layout, period: common.billingPeriod, logger: logger).run()
        }
    }
}

Load.main()
