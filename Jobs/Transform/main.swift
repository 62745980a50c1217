import ArgumentParser
import ReckonJobSupport
import ReckonTransform

/// reckon-transform: staging/extract/ + rate cards → FOCUS rows in staging/transform/.
struct Transform: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reckon-transform",
        abstract: "Price usage with the dated rate cards and turn usage and invoices into FOCUS 1.3 rows.")

    @OptionGroup var common: CommonOptions

    func run() throws {
        let logger = common.makeLogger("reckon.transform")
        try runStage("transform", logger: logger) {
            try TransformStage(layout: common.layout, period: common.billingPeriod, logger: logger).run()
        }
    }
}

Transform.main()
