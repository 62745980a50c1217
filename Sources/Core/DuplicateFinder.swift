import Dispatch

/// Finds repeated 64-bit keys (hashes of request ids) among many, after the fact.
///
/// `add` appends (sequential memory, no lookups); `duplicates()` partitions the keys by their top
/// bits into buckets small enough for the CPU cache and hashes each bucket on its own. That avoids
/// the cache miss per record a global hash set costs at millions of records.
/// - Complexity: O(n × passes) time; memory 8 bytes per key, plus 12 bytes per key ÷ passes while finding.
public struct DuplicateFinder: Sendable {
    /// The keys being added (the last segment).
    @usableFromInline var keys: [UInt64] = []
    /// Segments taken whole (`append(segment:)`), before `keys`: no copy of a part's keys.
    var earlier: [[UInt64]] = []
    var earlierCount = 0

    public init() {}

    public var count: Int { earlierCount + keys.count }

    /// Appends the keys of a batch of items in one go (their ordinals follow the keys added so far);
    /// the array is kept as it is, not copied.
    public mutating func append(segment: [UInt64]) {
        if !keys.isEmpty {
            earlier.append(keys)
            earlierCount += keys.count
            keys = []
        }
        earlier.append(segment)
        earlierCount += segment.count
    }

    public mutating func reserve(_ n: Int) { keys.reserveCapacity(keys.count + n) }

    /// Records the key of the next item (its ordinal is the number of keys added before it).
    @inlinable
    public mutating func add(_ key: UInt64) { keys.append(key) }

    /// The ordinals of keys that already occurred at a smaller ordinal, ascending: the repeats.
    ///
    /// The keys are spread by their top bits over buckets of about 1,024 (small enough for the CPU
    /// cache) and each bucket is hashed on its own. Buckets are handled a group at a time: each
    /// group is one pass over the keys that gathers that group's keys with their ordinals, so the
    /// scratch space is about 12 bytes per key divided by the number of passes (16 passes beyond 2M
    /// keys), not 12 bytes per key. With `threads` > 1 the groups are shared among that many
    /// threads (each with its own scratch); the answer does not depend on it.
    /// - Parameters:
    ///   - passes: how many groups (a power of two; default 1, or 16 beyond 2M keys).
    ///   - threads: how many threads share the groups (at most `passes`).
    /// - Complexity: O(n × passes ÷ threads) time per thread.
    public func duplicates(passes requested: Int? = nil, threads: Int = 1) -> [Int] {
        let n = count
        guard n > 1 else { return [] }
        var b = 0
        while (1 << b) * 1024 < n && b < 20 { b += 1 }
        let bits = b, buckets = 1 << b
        let shift = UInt64(64 - max(bits, 1))
        let passes = min(requested ?? (n > 2_000_000 ? 16 : 1), buckets)
        let perPass = buckets / passes
        let segments = keys.isEmpty ? earlier : earlier + [keys]
        let workers = max(1, min(threads, passes))
        final class Found: @unchecked Sendable { var repeats: [Int] = [] }  // one per worker, written by it alone
        let found = (0..<workers).map { _ in Found() }
        @Sendable func work(_ worker: Int) {
            // Each worker counts the keys of its own buckets, then handles its groups in turn.
            var counts = [Int](repeating: 0, count: buckets)
            for segment in segments {
                segment.withUnsafeBufferPointer { keys in
                    for k in keys { counts[bits == 0 ? 0 : Int(truncatingIfNeeded: k >> shift)] &+= 1 }
                }
            }
            var repeats: [Int] = []
            var table = [UInt64](repeating: 0, count: 4096)
            var used = [Bool](repeating: false, count: 4096)
            var sortedKeys: [UInt64] = []
            var ordinals: [UInt32] = []
            for pass in stride(from: worker, to: passes, by: workers) {
                let first = pass * perPass   // buckets first..<first + perPass
                var starts = [Int](repeating: 0, count: perPass + 1)
                for b in 0..<perPass { starts[b + 1] = starts[b] + counts[first + b] }
                let m = starts[perPass]
                sortedKeys.removeAll(keepingCapacity: true)
                ordinals.removeAll(keepingCapacity: true)
                sortedKeys.append(contentsOf: repeatElement(0, count: m))
                ordinals.append(contentsOf: repeatElement(0, count: m))
                var fill = starts
                var ordinal = 0
                sortedKeys.withUnsafeMutableBufferPointer { sk in
                    ordinals.withUnsafeMutableBufferPointer { od in
                        fill.withUnsafeMutableBufferPointer { fill in
                            for segment in segments {
                                segment.withUnsafeBufferPointer { keys in
                                    for (i, k) in keys.enumerated() {
                                        let b = (bits == 0 ? 0 : Int(truncatingIfNeeded: k >> shift)) &- first
                                        guard b >= 0 && b < perPass else { continue }
                                        sk[fill[b]] = k
                                        od[fill[b]] = UInt32(truncatingIfNeeded: ordinal &+ i)
                                        fill[b] &+= 1
                                    }
                                }
                                ordinal += segment.count
                            }
                        }
                    }
                }
                for b in 0..<perPass {
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
            }
            found[worker].repeats = repeats
        }
        if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: work) }
        return found.flatMap(\.repeats).sorted()
    }
}
