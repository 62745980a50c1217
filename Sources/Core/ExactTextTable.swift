#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Values kept by the exact bytes of a text, for a reader that sees the same few thousand texts
/// over and over (tag cells, a record's dimension strings): one hash of the text, one probe, one
/// `memcmp`. A text whose hash collides with a kept one is simply not kept (its caller does the
/// slow work again), so a value is only ever returned for exactly the text it was kept for.
///
/// A value type (arrays inside): a copy of a table is independent of the original, so copies of
/// a builder that holds one can run on different threads.
/// - Memory: at most `limit` entries and `byteLimit` bytes of text; when either would be passed,
///   the table starts over empty.
public struct ExactTextTable<Value> {
    @usableFromInline var index = HashIndex()
    /// Entry `k`'s text is `texts[ends[k - 1] ..< ends[k]]` (from 0 for the first).
    @usableFromInline var texts: [UInt8] = []
    @usableFromInline var ends: [Int] = []
    @usableFromInline var values: [Value] = []
    public let limit: Int
    public let byteLimit: Int

    public init(limit: Int = 4096, byteLimit: Int = 1 << 20) {
        self.limit = max(1, limit)
        self.byteLimit = max(1, byteLimit)
    }

    /// Entries kept.
    public var count: Int { values.count }

    /// The value kept for exactly these bytes.
    /// - Complexity: O(text length).
    @inlinable
    public func value(_ text: UnsafeRawBufferPointer) -> Value? {
        guard let k = index.find(Self.hash(text)).map(Int.init) else { return nil }
        let from = k == 0 ? 0 : ends[k - 1], to = ends[k]
        guard to - from == text.count else { return nil }
        let same = text.isEmpty || texts.withUnsafeBytes { memcmp($0.baseAddress! + from, text.baseAddress!, text.count) == 0 }
        return same ? values[k] : nil
    }

    /// Keeps `value` for these bytes (unless their hash is taken: then nothing is kept).
    @inlinable
    public mutating func keep(_ text: UnsafeRawBufferPointer, _ value: Value) {
        if values.count >= limit || texts.count + text.count > byteLimit {
            (index, values) = (HashIndex(), [])
            texts.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
        }
        let h = Self.hash(text)
        guard index.find(h) == nil else { return }
        index.insert(h, Int32(values.count))
        texts.append(contentsOf: text)
        ends.append(texts.count)
        values.append(value)
    }

    /// A 64-bit hash of the bytes, eight at a time (a multiply-xorshift per word, then the length).
    @inlinable
    public static func hash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        var i = 0
        @inline(__always) func mix(_ w: UInt64) { h = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD; h ^= h >> 29 }
        while i + 8 <= b.count {
            mix(UInt64(littleEndian: b.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        let rest = b.count - i
        if rest > 0 {
            // The last `rest` bytes in the low bits: one load of the last word when there is one.
            var tail: UInt64 = 0
            if b.count >= 8 {
                tail = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: b.count - 8, as: UInt64.self)) >> UInt64(8 * (8 - rest))
            } else {
                for k in i..<b.count { tail |= UInt64(b[k]) << UInt64(8 * (k - i)) }
            }
            mix(tail)
        }
        mix(UInt64(b.count))
        return h
    }
}
