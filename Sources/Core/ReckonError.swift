/// Process exit codes, shared by every stage (sysexits.h values where one fits). Documented in README.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    /// Success.
    case ok = 0
    /// The reconciliation found a variance beyond tolerance (only with `--fail-on-variance`).
    case varianceBeyondTolerance = 1
    /// Bad command line.
    case usage = 64
    /// Bad input data: unreadable records beyond the quarantine threshold, an invalid rate card,
    /// an invoice that cannot be read at all.
    case dataError = 65
    /// An input file or folder does not exist.
    case noInput = 66
    /// A bug in Reckon: an invariant did not hold.
    case software = 70
    /// An output could not be created.
    case cannotCreate = 73
    /// Reading or writing failed.
    case ioError = 74
    /// Another Reckon run holds the output folder; try again when it has finished.
    case busy = 75
}

/// Where in an input a problem is: the file, and a line, byte offset or XPath inside it.
public struct SourcePosition: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var byteOffset: Int?
    public var path: String?

    public init(file: String, line: Int? = nil, column: Int? = nil, byteOffset: Int? = nil, path: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.byteOffset = byteOffset
        self.path = path
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let column { s += ":\(column)" }
        if line == nil, let byteOffset { s += " (byte \(byteOffset))" }
        if let path { s += " \(path)" }
        return s
    }
}

/// The one error type the stages throw: what went wrong, where, and what caused it.
/// `code` decides the exit status.
public struct ReckonError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let name: String
        public let exitStatus: ExitStatus
        public var description: String { name }

        public static let badData = Code(name: "bad data", exitStatus: .dataError)
        public static let missingInput = Code(name: "missing input", exitStatus: .noInput)
        public static let io = Code(name: "I/O error", exitStatus: .ioError)
        public static let cannotCreate = Code(name: "cannot create output", exitStatus: .cannotCreate)
        public static let usage = Code(name: "usage", exitStatus: .usage)
        public static let internalError = Code(name: "internal error", exitStatus: .software)
        public static let busy = Code(name: "busy", exitStatus: .busy)
        public static let varianceOutOfTolerance = Code(name: "variance beyond tolerance", exitStatus: .varianceBeyondTolerance)
    }

    public var code: Code
    public var message: String
    public var position: SourcePosition?
    public var cause: String?

    public init(_ code: Code, _ message: String, at position: SourcePosition? = nil, cause: String? = nil) {
        self.code = code
        self.message = message
        self.position = position
        self.cause = cause
    }

    public var description: String {
        var s = ""
        if let position { s += "\(position): " }
        s += message
        if let cause { s += " (\(cause))" }
        return s
    }
}
