import ReckonCore

/// The lines of generic exports whose records extract staged and then found to repeat an earlier
/// request id (`staging/extract/usage_repeats.bin`): transform skips them. Repeats are only known
/// once every export has been read, after the records were staged, so they are listed apart.
///
/// **File**: magic `RKREP001` (8 bytes), then one 16-byte entry a repeat — the source's index
/// among `usage_sources.jsonl` and the line, both little-endian 64-bit — ascending by source, then
/// line. Written and read in bounded memory whatever the number of repeats.
public enum RepeatedLines {
    /// `RKREP001`, read as a little-endian integer.
    static let magic: UInt64 = 0x3130_3050_4552_4B52
    static let headerSize = 8
    static let entrySize = 16

    /// Writes the file; entries must come in order (source, then line ascending).
    final class Writer {
        private let out: OutputFile
        /// Little-endian words waiting to be written.
        private var buffer: [UInt64] = []
        private var last: (source: Int, line: Int) = (-1, 0)

        init(path: String) throws {
            out = try OutputFile(path: path)
            buffer.append(RepeatedLines.magic.littleEndian)
        }

        func append(source: Int, line: Int) throws {
            precondition(source > last.source || (source == last.source && line > last.line), "repeated lines out of order")
            last = (source, line)
            buffer.append(UInt64(source).littleEndian)
            buffer.append(UInt64(line).littleEndian)
            if buffer.count >= 1 << 13 { try flush() }
        }

        private func flush() throws {
            try buffer.withUnsafeBytes { try out.write(raw: $0) }
            buffer.removeAll(keepingCapacity: true)
        }

        func commit() throws {
            try flush()
            try out.commit()
        }
    }

    /// The repeated lines one thread finds, in order, until they join the list: 512 KiB (64 Ki
    /// lines) in memory, the rest in an unlinked temporary file.
    final class LineBuffer {
        private let lines: SpillingBytes

        init(spillFolder: String) { lines = SpillingBytes(spillFolder: spillFolder, purpose: "repeated lines", limit: 512 << 10) }

        func append(_ line: Int) throws {
            try withUnsafeBytes(of: UInt64(line).littleEndian) { try lines.append(contentsOf: $0) }
        }

        /// Calls `body` with each line in order; then forgets them. (Every chunk holds whole lines:
        /// the bytes are appended and spilled 8 at a time, and files are read a MiB at a time.)
        func drain(_ body: (Int) throws -> Void) throws {
            try lines.drain { chunk in
                for i in 0..<(chunk.count / 8) { try body(Int(UInt64(littleEndian: chunk.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))) }
            }
        }
    }

    /// Walks one source's repeated lines from a given line on, for a reader whose lines only go up
    /// (the records of a run of segments). Finds its start by binary search (one 16-byte read a
    /// step), then reads 256 entries at a time.
    /// - Memory: 4 KiB.
    public final class Cursor {
        private let file: ReadableFile
        private let source: UInt64
        private let entries: Int
        /// The entry at `buffer[at]` is entry `next - (loaded - at)` of the file.
        private var buffer = [UInt64](repeating: 0, count: 512)
        private var loaded = 0, at = 0, next: Int
        /// The next repeated line of the source, or nil past its last.
        private var pending: Int?

        /// - Throws: `.badData` naming the file when it is not a repeats file (or is cut off), and
        ///   `.missingInput` when it is not there (staging written by an older reckon-extract).
        public init(path: String, source: Int, from line: Int) throws {
            guard FileSystem.exists(path) else {
                throw ReckonError(.missingInput, "extract's list of repeated records is missing (staging from an older reckon-extract?): rerun reckon-extract",
                                  at: SourcePosition(file: path))
            }
            file = try ReadableFile(path: path)
            (entries, next) = try Self.locate(in: file, source: UInt64(source), line: line)
            self.source = UInt64(source)
            pending = nil
            pending = try advance()
        }

        /// The number of entries, and the first at or after (source, line).
        private static func locate(in f: borrowing ReadableFile, source: UInt64, line: Int) throws -> (entries: Int, first: Int) {
            var head: UInt64 = 0
            if f.size >= RepeatedLines.headerSize {
                try withUnsafeMutableBytes(of: &head) { try f.read(at: 0, into: $0) }
            }
            guard f.size >= RepeatedLines.headerSize, UInt64(littleEndian: head) == RepeatedLines.magic,
                  (f.size - RepeatedLines.headerSize) % RepeatedLines.entrySize == 0 else {
                throw ReckonError(.badData, "extract's list of repeated records is damaged: rerun reckon-extract", at: SourcePosition(file: f.path))
            }
            let count = (f.size - RepeatedLines.headerSize) / RepeatedLines.entrySize
            var lo = 0, hi = count
            var pair: (UInt64, UInt64) = (0, 0)
            while lo < hi {
                let mid = (lo + hi) / 2
                try withUnsafeMutableBytes(of: &pair) { try f.read(at: RepeatedLines.headerSize + mid * RepeatedLines.entrySize, into: $0) }
                let s = UInt64(littleEndian: pair.0), l = UInt64(littleEndian: pair.1)
                if s < source || (s == source && l < UInt64(max(line, 0))) { lo = mid + 1 } else { hi = mid }
            }
            return (count, lo)
        }

        /// The next line of the source, or nil.
        private func advance() throws -> Int? {
            if at == loaded {
                let n = min(buffer.count / 2, entries - next)
                guard n > 0 else { return nil }
                let offset = RepeatedLines.headerSize + next * RepeatedLines.entrySize
                try buffer.withUnsafeMutableBytes { try file.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<(n * 16)])) }
                loaded = n
                at = 0
                next += n
            }
            let s = UInt64(littleEndian: buffer[2 * at]), l = UInt64(littleEndian: buffer[2 * at + 1])
            at += 1
            return s == source ? Int(l) : nil
        }

        /// Whether `line` is a repeated line; calls must give ascending lines.
        public func contains(_ line: Int) throws -> Bool {
            while let p = pending, p < line { pending = try advance() }
            return pending == line
        }

        /// Whether the source has no repeated line from here on (no check is needed).
        public var isDone: Bool { pending == nil }
    }
}
