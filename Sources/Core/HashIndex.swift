/// A map from 64-bit hashes to interned ids: open addressing with linear probing, at most half
/// full, 12 bytes a slot. The interning of byte strings (transform) and the field names of JSONL
/// records (extract) look up several per record; a Swift dictionary would run SipHash over a key
/// that is already a hash.
public struct HashIndex: Sendable {
    private var keys = [UInt64](repeating: 0, count: 64)
    private var values = [Int32](repeating: -1, count: 64)
    private var count = 0

    public init() {}

    @inline(__always)
    private static func slot(_ h: UInt64, _ mask: Int) -> Int { Int(truncatingIfNeeded: (h &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask }

    /// The id stored for `h`, if any.
    /// - Complexity: O(1) expected.
    @inline(__always)
    public func find(_ h: UInt64) -> Int32? {
        let mask = keys.count - 1
        var i = Self.slot(h, mask)
        while true {
            let v = values[i]
            if v < 0 { return nil }
            if keys[i] == h { return v }
            i = (i + 1) & mask
        }
    }

    /// Stores `id` (non-negative) for `h`, which must not be there yet.
    public mutating func insert(_ h: UInt64, _ id: Int32) {
        if (count + 1) * 2 > keys.count { grow() }
        let mask = keys.count - 1
        var i = Self.slot(h, mask)
        while values[i] >= 0 { i = (i + 1) & mask }
        keys[i] = h
        values[i] = id
        count += 1
    }

    private mutating func grow() {
        let (oldKeys, oldValues) = (keys, values)
        keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
        values = [Int32](repeating: -1, count: oldKeys.count * 2)
        count = 0
        for i in oldKeys.indices where oldValues[i] >= 0 { insert(oldKeys[i], oldValues[i]) }
    }
}
