import ReckonCore

/// The estimate's output cells in memory: key → summed quantity. A Swift dictionary hashes
/// each key again with SipHash over the key's own mix; this table probes on that mix directly
/// and keeps keys and quantities in two dense arrays (in insertion order), which made pricing
/// about a fifth faster on the 1 M-record bench.
///
/// Open addressing with linear probing over cell indices, at most half full.
/// - Memory: per cell its key (56 bytes) and quantity (32), plus 16–32 bytes of index.
/// - Complexity: `add(_:_:)` O(1) expected.
struct CellTable: Sequence {
    typealias Key = EstimatedRowBuilder.Key
    private(set) var keys: [Key] = []
    private(set) var values: [ExactDecimal] = []
    /// Per slot: the cell's index + 1 in the low 32 bits (0: empty) and 32 bits of its key's
    /// hash in the high ones, so a probe touches a key only when those bits match.
    private var slots = [UInt64](repeating: 0, count: 1024)

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }

    /// Adds `q` to the cell `k` (created at zero if new).
    mutating func add(_ k: Key, _ q: ExactDecimal) {
        let h = k.mixed
        let tag = h & 0xFFFF_FFFF_0000_0000
        var mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h >> 7) & mask
        while true {
            let s = slots[i]
            if s == 0 { break }
            if s & 0xFFFF_FFFF_0000_0000 == tag {
                let c = Int(s & 0xFFFF_FFFF) - 1
                if keys[c] == k {
                    values[c] += q
                    return
                }
            }
            i = (i + 1) & mask
        }
        if (keys.count + 1) * 2 > slots.count {
            rehash(slots.count * 2)
            mask = slots.count - 1
            i = Int(truncatingIfNeeded: h >> 7) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
        }
        slots[i] = tag | UInt64(keys.count + 1)
        keys.append(k)
        values.append(q)
    }

    /// Empties the table; its room is kept when `keepingCapacity`.
    mutating func removeAll(keepingCapacity: Bool) {
        keys.removeAll(keepingCapacity: keepingCapacity)
        values.removeAll(keepingCapacity: keepingCapacity)
        if keepingCapacity {
            for i in slots.indices { slots[i] = 0 }
        } else {
            slots = [UInt64](repeating: 0, count: 1024)
        }
    }

    /// Makes room for `n` cells.
    mutating func reserveCapacity(_ n: Int) {
        keys.reserveCapacity(n)
        values.reserveCapacity(n)
        var size = slots.count
        while size < 2 * n { size *= 2 }
        if size > slots.count { rehash(size) }
    }

    private mutating func rehash(_ size: Int) {
        slots = [UInt64](repeating: 0, count: size)
        let mask = size - 1
        for (c, k) in keys.enumerated() {
            let h = k.mixed
            var i = Int(truncatingIfNeeded: h >> 7) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = h & 0xFFFF_FFFF_0000_0000 | UInt64(c + 1)
        }
    }

    func makeIterator() -> some IteratorProtocol<(key: Key, value: ExactDecimal)> {
        zip(keys, values).lazy.map { (key: $0, value: $1) }.makeIterator()
    }

    var underestimatedCount: Int { keys.count }
}
