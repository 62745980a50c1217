/// Finds repeated 64-bit keys (hashes of request ids) among many, after the fact.
///
/// `add` appends (sequential memory, no lookups); `duplicates()` partitions the keys by their top
/// bits into buckets small enough for the CPU cache and hashes each bucket on its own. That avoids
/// the cache miss per record a global hash set costs at millions of records.
/// - Complexity: O(n) time; memory 8 bytes per key plus 12 bytes per key while finding.
public struct DuplicateFinder: Sendable {
    @usableFromInline var keys: [UInt64] = []

    public init() {}

    public var count: Int { keys.count }

    public mutating func reserve(_ n: Int) { keys.reserveCapacity(keys.count + n) }

    /// Records the key of the next item (its ordinal is the number of keys added before it).
    @inlinable
    public mutating func add(_ key: UInt64) { keys.append(key) }

    /// The ordinals of keys that already occurred at a smaller ordinal, ascending: the repeats.
    public func duplicates() -> [Int] {
        let n = keys.count
        guard n > 1 else { return [] }
        var bits = 0
        while (1 << bits) * 1024 < n && bits < 20 { bits += 1 }
        let buckets = 1 << bits
        let shift = UInt64(64 - max(bits, 1))
        func bucket(_ k: UInt64) -> Int { bits == 0 ? 0 : Int(truncatingIfNeeded: k >> shift) }
        var starts = [Int](repeating: 0, count: buckets + 1)
        for k in keys { starts[bucket(k) + 1] += 1 }
        for b in 0..<buckets { starts[b + 1] += starts[b] }
        var fill = starts
        var sortedKeys = [UInt64](repeating: 0, count: n)
        var ordinals = [UInt32](repeating: 0, count: n)
        for (i, k) in keys.enumerated() {
            let b = bucket(k)
            sortedKeys[fill[b]] = k
            ordinals[fill[b]] = UInt32(truncatingIfNeeded: i)
            fill[b] += 1
        }
        var repeats: [Int] = []
        var table = [UInt64](repeating: 0, count: 4096)
        var used = [Bool](repeating: false, count: 4096)
        for b in 0..<buckets {
            let lo = starts[b], hi = starts[b + 1]
            guard hi - lo > 1 else { continue }
            var size = 16
            while size < (hi - lo) * 2 { size *= 2 }
            if table.count < size {
                table = [UInt64](repeating: 0, count: size)
                used = [Bool](repeating: false, count: size)
            }
            let mask = size - 1
            for i in 0..<size { used[i] = false }
            for j in lo..<hi {  // in ordinal order: the scatter above is stable
                let k = sortedKeys[j]
                var slot = Int(truncatingIfNeeded: (k &* 0x9E3779B97F4A7C15) >> 40) & mask
                while used[slot] && table[slot] != k { slot = (slot + 1) & mask }
                if used[slot] { repeats.append(Int(ordinals[j])) } else { used[slot] = true; table[slot] = k }
            }
        }
        return repeats.sorted()
    }
}
