/// Appending text to a byte buffer without going through `String`: the hot output paths
/// (staging JSONL) write records this way.
extension Array where Element == UInt8 {
    @inlinable
    public mutating func append(ascii s: StaticString) {
        s.withUTF8Buffer { append(contentsOf: $0) }
    }

    public mutating func append(utf8 s: String) {
        var s = s
        s.withUTF8 { append(contentsOf: $0) }
    }

    /// Appends `bytes` as a JSON string literal (quotes included), escaping `"`, `\` and controls.
    /// The bytes must be valid UTF-8.
    public mutating func appendJSONString(_ bytes: UnsafeRawBufferPointer) {
        append(0x22)
        JSONEscape.pieces(bytes) { append(contentsOf: $0) }
        append(0x22)
    }

    /// Appends a non-null CSV field exactly as `CSVWriter.appendField` writes it: quoted when it
    /// holds a comma, a quote, CR or LF (quotes doubled), `""` when empty, else as it is.
    public mutating func appendCSVField(_ bytes: UnsafeRawBufferPointer) {
        if bytes.isEmpty { append(ascii: "\"\""); return }
        var quote = false
        for c in bytes where c == 0x2C || c == 0x22 || c == 0x0A || c == 0x0D { quote = true; break }
        if !quote { append(contentsOf: bytes); return }
        append(0x22)
        for c in bytes {
            if c == 0x22 { append(0x22) }
            append(c)
        }
        append(0x22)
    }

    public mutating func appendCSVField(_ s: String) {
        var s = s
        s.withUTF8 { appendCSVField(UnsafeRawBufferPointer($0)) }
    }

    /// Like `appendJSONString`, with ASCII letters lower-cased (provider and tier names).
    public mutating func appendJSONStringLowercasingASCII(_ bytes: UnsafeRawBufferPointer) {
        let mark = count
        appendJSONString(bytes)
        for i in mark..<count where self[i] >= 65 && self[i] <= 90 { self[i] += 32 }
    }

    public mutating func appendJSONString(_ s: String) {
        var s = s
        s.withUTF8 { appendJSONString(UnsafeRawBufferPointer($0)) }
    }

    /// Appends an integer in decimal.
    public mutating func appendInt(_ v: Int) {
        if v < 0 { append(0x2D) }
        appendDigits(UInt64(v.magnitude), fractionDigits: -1)
    }

    @usableFromInline
    mutating func appendDigits(_ value: UInt64, fractionDigits: Int) {
        var tmp: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &tmp) { d in
            let n = DecimalText.writeDigits(value, fractionDigits: fractionDigits, to: d.baseAddress!)
            append(contentsOf: UnsafeRawBufferPointer(rebasing: d[0..<n]))
        }
    }

    /// Appends a decimal in FOCUS NumericFormat (`ExactDecimal.description`), without a String for
    /// values whose significand fits 64 bits.
    public mutating func appendDecimal(_ d: ExactDecimal) {
        var tmp: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
        let done = Swift.withUnsafeMutableBytes(of: &tmp) { t -> Bool in
            guard let n = DecimalText.write(d, to: t.baseAddress!) else { return false }
            append(contentsOf: UnsafeRawBufferPointer(rebasing: t[0..<n]))
            return true
        }
        if !done { append(utf8: d.normalized.description) }
    }

    /// Appends a timestamp in FOCUS DateTimeFormat.
    public mutating func appendTimestamp(_ t: Timestamp) {
        let d = t.date
        let secs = Int(t.secondsSinceEpoch - t.startOfDay.secondsSinceEpoch)
        func two(_ v: Int) { append(UInt8(48 + v / 10)); append(UInt8(48 + v % 10)) }
        let y = d.year
        append(UInt8(48 + y / 1000 % 10)); append(UInt8(48 + y / 100 % 10)); two(y % 100)
        append(0x2D); two(d.month); append(0x2D); two(d.day)
        append(0x54); two(secs / 3600); append(0x3A); two(secs / 60 % 60); append(0x3A); two(secs % 60); append(0x5A)
    }
}

/// A reusable byte buffer appended to with one `memcpy` per part. `Array.append(contentsOf:)`
/// spends about 200 instructions per call on a short buffer pointer (measured with callgrind),
/// which added up to a seventh of the estimate's write phase; this costs a bounds check and the
/// copy. Non-copyable: it owns its allocation and frees it in `deinit`.
/// - Memory: grows (doubling) to the longest content held, never shrinks.
public struct ByteBuffer: ~Copyable {
    @usableFromInline var base: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    @usableFromInline var used = 0
    /// Bytes held.
    public var count: Int { used }

    public init(capacity: Int = 4096) {
        self.capacity = Swift.max(capacity, 16)
        base = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    @inlinable @inline(__always)
    mutating func reserve(_ n: Int) {
        if used + n > capacity { grow(n) }
    }

    @usableFromInline @inline(never)
    mutating func grow(_ n: Int) {
        let size = Swift.max(used + n, 2 * capacity)
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        bigger.copyMemory(from: base, byteCount: used)
        base.deallocate()
        (base, capacity) = (bigger, size)
    }

    @inlinable
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0 else { return }
        reserve(n)
        (base + used).copyMemory(from: bytes.baseAddress!, byteCount: n)
        used += n
    }

    @inlinable
    public mutating func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }

    @inlinable
    public mutating func append(ascii s: StaticString) { s.withUTF8Buffer { append(UnsafeRawBufferPointer($0)) } }

    @inlinable
    public mutating func append(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: used, as: UInt8.self)
        used += 1
    }

    /// Empties the buffer (its room is kept).
    public mutating func removeAll() { used = 0 }

    /// The byte at `offset` (< `count`).
    @inlinable
    public func byte(at offset: Int) -> UInt8 {
        precondition(offset >= 0 && offset < used)
        return base.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// Overwrites the byte at `offset` (< `count`).
    @inlinable
    public mutating func setByte(at offset: Int, _ value: UInt8) {
        precondition(offset >= 0 && offset < used)
        base.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }

    /// The bytes held (valid only inside `body`).
    @inlinable
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: used))
    }
}

extension ByteBuffer {
    /// Appends a decimal in FOCUS NumericFormat, as `[UInt8].appendDecimal` does, written in place.
    public mutating func appendDecimal(_ d: ExactDecimal) {
        reserve(DecimalText.room)
        if let n = DecimalText.write(d, to: base + used) {
            used += n
        } else {
            var s = d.normalized.description
            s.withUTF8 { append(UnsafeRawBufferPointer($0)) }
        }
    }
}

/// Decimal digits written straight to memory: the one formatter behind `appendDecimal` and
/// `appendInt` of byte arrays and `ByteBuffer`.
@usableFromInline
enum DecimalText {
    /// Bytes of room `write` and `writeDigits` may use.
    static let room = 48

    /// Writes `value` in decimal; with `fractionDigits` ≥ 0 a point goes before the last that many
    /// digits (zero-padded), and at least one digit follows it. Returns the bytes written (≤ 42).
    @usableFromInline
    static func writeDigits(_ value: UInt64, fractionDigits: Int, to p: UnsafeMutableRawPointer) -> Int {
        var d: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)  // 40 bytes: digits, lowest first
        return Swift.withUnsafeMutableBytes(of: &d) { d in
            var m = value, n = 0, out = 0
            repeat { d[n] = UInt8(48 + m % 10); m /= 10; n += 1 } while m > 0
            while n <= fractionDigits { d[n] = 48; n += 1 }
            @inline(__always) func put(_ b: UInt8) { p.storeBytes(of: b, toByteOffset: out, as: UInt8.self); out += 1 }
            for k in stride(from: n - 1, through: Swift.max(fractionDigits, 0), by: -1) { put(d[k]) }
            if fractionDigits >= 0 {
                put(0x2E)
                if fractionDigits == 0 { put(48) } else { for k in stride(from: fractionDigits - 1, through: 0, by: -1) { put(d[k]) } }
            }
            return out
        }
    }

    /// Writes `d` in FOCUS NumericFormat (`ExactDecimal.description`); `nil` when its normalised
    /// significand does not fit 64 bits or it has 20 or more fractional digits (the caller then
    /// writes `description`).
    @usableFromInline
    static func write(_ d: ExactDecimal, to p: UnsafeMutableRawPointer) -> Int? {
        if d.scale == 0, let small = Int64(exactly: d.significand) {
            if small < 0 { p.storeBytes(of: 0x2D, as: UInt8.self) }
            let sign = small < 0 ? 1 : 0
            return sign + writeDigits(small.magnitude, fractionDigits: 0, to: p + sign)
        }
        let n = d.normalized
        guard let small = Int64(exactly: n.significand), n.scale < 20 else { return nil }
        if small < 0 { p.storeBytes(of: 0x2D, as: UInt8.self) }
        let sign = small < 0 ? 1 : 0
        return sign + writeDigits(small.magnitude, fractionDigits: n.scale, to: p + sign)
    }
}

extension ByteBuffer {
    /// Appends `bytes` as a JSON string literal, as `[UInt8].appendJSONString` does.
    @inlinable
    public mutating func appendJSONString(_ bytes: UnsafeRawBufferPointer) {
        append(0x22)
        JSONEscape.pieces(bytes) { append($0) }
        append(0x22)
    }
}

/// JSON string escaping, once for every byte sink: `"`, `\`, LF, CR and tab by their short
/// escapes, other control characters as `\u00xx` (lowercase hex), everything else as it is.
@usableFromInline
enum JSONEscape {
    /// Per byte value: its escape sequence, empty when it goes as it is.
    @usableFromInline
    static let table: [[UInt8]] = (0..<256).map { c -> [UInt8] in
        switch c {
        case 0x22: return Array("\\\"".utf8)
        case 0x5C: return Array("\\\\".utf8)
        case 0x0A: return Array("\\n".utf8)
        case 0x0D: return Array("\\r".utf8)
        case 0x09: return Array("\\t".utf8)
        case 0..<0x20:
            let hex = Array("0123456789abcdef".utf8)
            return Array("\\u00".utf8) + [hex[c >> 4], hex[c & 15]]
        default: return []
        }
    }

    /// Calls `body` with the pieces of the escaped text in order: runs of bytes that go as they
    /// are, and escape sequences. The bytes must be valid UTF-8.
    @inlinable
    static func pieces(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        for i in 0..<bytes.count {
            let c = bytes[i]
            if c >= 0x20 && c != 0x22 && c != 0x5C { continue }
            body(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
            table[Int(c)].withUnsafeBytes(body)
            start = i + 1
        }
        body(UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]))
    }
}
