#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ArgumentParser
import Logging
import ReckonCore

/// Options every stage takes.
public struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Input folder, laid out like Samples/ (usage/, invoices/, ratecards/, accounts.csv).")
    public var input: String = "Samples"

    @Option(name: .long, help: "Output folder (staging/, focus/, reports/ are written under it).")
    public var output: String = "out"

    @Option(name: .long, help: "Only this billing period (YYYY-MM); default: every period found in the inputs.")
    public var period: String?

    @Option(name: .long, help: "Log level on stderr: trace, debug, info, notice, warning, error, critical.")
    public var logLevel: String = "info"

    public init() {}

    public func validate() throws {
        if let period, BillingPeriod(period) == nil {
            throw ValidationError("--period must be YYYY-MM, e.g. 2026-10 (got \"\(period)\")")
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    public var layout: Layout { Layout(input: input, output: output) }
    public var billingPeriod: BillingPeriod? { period.flatMap { BillingPeriod($0) } }

    /// A logger writing to stderr at the chosen level. The job creates it and passes it down.
    public func makeLogger(_ label: String) -> Logger {
        stderrLogger(label, level: Logger.Level(rawValue: logLevel) ?? .info)
    }
}

/// A logger writing to stderr.
public func stderrLogger(_ label: String, level: Logger.Level = .info) -> Logger {
    var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = level
    return logger
}

/// Runs a stage body: times it, logs its one summary line, and turns failures into the exit
/// codes documented in the README (65 bad data, 66 missing input, 74 I/O, …).
public func runStage(_ name: String, logger: Logger, lock folder: String? = nil, _ body: () throws -> StageReport) throws {
    let clock = ContinuousClock()
    let start = clock.now
    do {
        let lock = try folder.map { try RunLock(folder: $0) }
        let report = try withExtendedLifetime(lock) { try body() }
        let elapsed = clock.now - start
        let t = report.totals
        logger.info("\(name) done: \(t.summary) balanced=\(t.balanced) seconds=\(secondsText(elapsed))")
    } catch let error as ReckonError {
        logger.error("\(name) failed: \(error)")
        throw ExitCode(error.code.exitStatus.rawValue)
    } catch let error as ExitCode {
        throw error
    } catch {
        logger.error("\(name) failed: \(error)")
        throw ExitCode(ExitStatus.software.rawValue)
    }
}

/// `1.234` for a duration, from its integer components.
func secondsText(_ d: Duration) -> String {
    let (s, atto) = d.components
    let ms = atto / 1_000_000_000_000_000
    let frac = String(ms)
    return "\(s)." + String(repeating: "0", count: 3 - frac.count) + frac
}

/// The number of processors online (at least 1): the default thread count of the jobs.
public func processorsOnline() -> Int {
    max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}
