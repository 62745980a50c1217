import ArgumentParser
import ReckonCore
import ReckonJobSupport
import ReckonReconcile

/// reckon-reconcile: staged estimated and invoiced FOCUS rows → reconciliation reports.
struct Reconcile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reckon-reconcile",
        abstract: "Compare estimated (usage × rate card) with invoiced totals per billing account.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Absolute tolerance: a variance of at most this much is within_tolerance.")
    var tolerance: String = "0.01"

    @Flag(help: "Exit 1 when an account's variance is beyond tolerance (or an invoice or usage is missing).")
    var failOnVariance = false

    @Flag(help: "Exit 1 when a budget is breached (budgets.csv).")
    var failOnBreach = false

    func validate() throws {
        guard let t = ExactDecimal(tolerance), t >= .zero else { throw ValidationError("--tolerance must be a non-negative decimal") }
    }

    func run() throws {
        let logger = common.makeLogger("reckon.reconcile")
        var beyond = false, breached = false
        try runStage("reconcile", logger: logger, lock: common.layout.output) {
            let (report, results) = try ReconcileStage(layout: common.layout, period: common.billingPeriod,
                                                       tolerance: ExactDecimal(tolerance)!, logger: logger).run()
            beyond = results.contains { $0.accounts.contains { $0.status != .matched && $0.status != .withinTolerance } }
            breached = results.contains { $0.budgets.contains { $0["status"]?.string == "breach" } }
            return report
        }
        if (failOnVariance && beyond) || (failOnBreach && breached) { throw ExitCode(ExitStatus.varianceBeyondTolerance.rawValue) }
    }
}

Reconcile.main()
