import Synchronization

/// Finds repeated 128-bit keys (of request ids, see `requestIdKey`) among many, after the fact, in
/// bounded memory.
///
/// `add` appends to a block of up to `blockKeys` keys. A full block is spread over 256 partitions
/// by the keys' top 8 bits (a counting sort, which keeps their order) and written to an unlinked
/// temporary file with each key's position in the block: keys go to disk as they come, and memory
/// stays the same whatever the count. `duplicates()` then takes the partitions a group at a time
/// (about 2^18 keys a group): it reads that group's slice of every block, splits it into buckets
/// of about 1,024 keys (small enough for the CPU cache) and hashes each bucket on its own, in
/// the order the keys were added.
///
/// A finder of at most `blockKeys` keys never creates a file; neither does a partial block that
/// fits beside the other blocks kept in memory (at most `blockKeys` keys in all).
/// - Memory: the block being filled (16 bytes a key) and the blocks kept in memory (20 bytes a
///   key), each at most `blockKeys` keys (2^18 by default: 4 MiB and 5 MiB), plus 1 KiB of index a
///   written block (4 KiB per million keys); while finding, about 24 bytes × 2^19 a thread.
///   Disk: 20 bytes a key.
/// - Complexity: O(n) to add and O(n) to find: each key is written once and read back once.
public final class DuplicateFinder: @unchecked Sendable {
    static let partitionBits = 8
    static let partitions = 1 << partitionBits

    /// Keys spread by partition: `keys[starts[p]..<starts[p + 1]]` are partition `p`'s, in the
    /// order they were added, and `ordinals` their positions in the block.
    struct Block {
        /// Ordinal of the block's first key.
        var base: Int
        var count: Int
        var starts: [UInt32]
        /// The keys and positions when the block is kept in memory (empty when it is in `file`).
        var keys: [UInt128] = []
        var ordinals: [UInt32] = []
        /// Where a written block is: keys at `offset`, positions at `offset + 16 × count`.
        var file: TemporaryFile?
        var offset = 0
    }

    public let spillFolder: String
    public let blockKeys: Int
    /// The keys being added (the block being filled).
    @usableFromInline var tail: [UInt128] = []
    var blocks: [Block] = []
    /// Keys in `blocks`.
    var sealed: Int { blocks.last.map { $0.base + $0.count } ?? 0 }
    /// Keys of the blocks kept in memory. O(blocks).
    var inMemory: Int { blocks.reduce(0) { $0 + ($1.file == nil ? $1.count : 0) } }
    /// This finder's file (created when a block is first written).
    var file: TemporaryFile?
    /// Scratch for spreading a block (reused).
    private var spreadKeys: [UInt128] = []
    private var spreadOrdinals: [UInt32] = []

    /// - Parameters:
    ///   - spillFolder: where the temporary file is created (unlinked at once).
    ///   - blockKeys: keys a block holds (a power of two is not needed).
    public init(spillFolder: String, blockKeys: Int = 1 << 18) {
        precondition(blockKeys > 0 && blockKeys <= Int(UInt32.max))
        self.spillFolder = spillFolder
        self.blockKeys = blockKeys
    }

    public var count: Int { sealed + tail.count }

    /// Whether any block went to the temporary file (its own or one taken over).
    public var wroteBlocks: Bool { blocks.contains { $0.file != nil } }

    /// Records the key of the next item (its ordinal is the number of keys added before it).
    /// Writes a block when one is full.
    @inlinable
    public func add(_ key: UInt128) throws {
        if tail.count == blockKeys { try writeFullBlock() }
        tail.append(key)
    }

    @usableFromInline func writeFullBlock() throws { try seal(toFile: true) }

    /// Adds the keys of `other` after this finder's (their ordinals follow on), taking its blocks
    /// over without copying them; `other` is left empty.
    public func append(_ other: DuplicateFinder) throws {
        try seal(toFile: false)
        try other.seal(toFile: false)
        let offset = sealed
        for var b in other.blocks {
            b.base += offset
            blocks.append(b)
        }
        other.blocks = []
    }

    /// Makes the keys being added a block: written to the file when `toFile`, or when keeping it
    /// would put more than `blockKeys` keys in memory; kept in memory otherwise.
    func seal(toFile: Bool) throws {
        let n = tail.count
        guard n > 0 else { return }
        let shift = 128 - Self.partitionBits
        let starts = tail.withUnsafeBufferPointer { keys in
            Self.spread(keys, shift: shift, first: 0, groups: Self.partitions, ordinal: { UInt32(truncatingIfNeeded: $0) },
                        into: &spreadKeys, &spreadOrdinals)
        }
        var block = Block(base: sealed, count: n, starts: starts.map { UInt32(truncatingIfNeeded: $0) })
        if toFile || inMemory + n > blockKeys {
            if file == nil { file = try TemporaryFile(folder: spillFolder, purpose: "request ids being checked for repeats") }
            let f = file!
            block.file = f
            block.offset = f.size
            try spreadKeys.withUnsafeBytes { (b) throws in try f.append(UnsafeRawBufferPointer(rebasing: b[0..<(n * 16)])) }
            try spreadOrdinals.withUnsafeBytes { (b) throws in try f.append(UnsafeRawBufferPointer(rebasing: b[0..<(n * 4)])) }
        } else {
            block.keys = Array(spreadKeys[0..<n])
            block.ordinals = Array(spreadOrdinals[0..<n])
        }
        blocks.append(block)
        tail.removeAll(keepingCapacity: true)
    }

    /// Spreads `keys` over `groups` groups by their bits from `shift` up, less `first` (a counting
    /// sort, stable): `sortedKeys[starts[g]..<starts[g + 1]]` are group g's keys in the order given
    /// and `sortedOrdinals` the same places' `ordinal(i)`. The outputs grow to fit and are reused.
    /// - Returns: `starts` (`groups` + 1 entries). O(keys + groups).
    @inline(__always)
    static func spread<O: FixedWidthInteger>(_ keys: UnsafeBufferPointer<UInt128>, shift: Int, first: Int, groups: Int,
                                             ordinal: (Int) -> O, into sortedKeys: inout [UInt128], _ sortedOrdinals: inout [O]) -> [Int] {
        var starts = [Int](repeating: 0, count: groups + 1)
        for k in keys { starts[Int(truncatingIfNeeded: k >> shift) &- first &+ 1] &+= 1 }
        for g in 0..<groups { starts[g + 1] &+= starts[g] }
        if sortedKeys.count < keys.count {
            sortedKeys = [UInt128](repeating: 0, count: keys.count)
            sortedOrdinals = [O](repeating: 0, count: keys.count)
        }
        var fill = starts
        sortedKeys.withUnsafeMutableBufferPointer { sk in
            sortedOrdinals.withUnsafeMutableBufferPointer { so in
                fill.withUnsafeMutableBufferPointer { fill in
                    for i in 0..<keys.count {
                        let k = keys[i]
                        let g = Int(truncatingIfNeeded: k >> shift) &- first
                        let at = fill[g]
                        sk[at] = k
                        so[at] = ordinal(i)
                        fill[g] = at &+ 1
                    }
                }
            }
        }
        return starts
    }

    /// Which ordinals repeat a key that occurred at a smaller ordinal: one bit an ordinal.
    public struct Repeats: Sendable {
        var words: [UInt64]
        /// How many ordinals repeat.
        public private(set) var count: Int

        init(ordinals n: Int) {
            words = [UInt64](repeating: 0, count: (n + 63) / 64)
            count = 0
        }

        mutating func insert(_ ordinal: Int) {
            let bit: UInt64 = 1 << UInt64(ordinal & 63)
            if words[ordinal >> 6] & bit == 0 { words[ordinal >> 6] |= bit; count += 1 }
        }

        public func contains(_ ordinal: Int) -> Bool {
            ordinal >= 0 && ordinal >> 6 < words.count && words[ordinal >> 6] & (1 << UInt64(ordinal & 63)) != 0
        }

        /// How many ordinals of `range` repeat. O(range ÷ 64).
        public func count(in range: Range<Int>) -> Int {
            var n = 0
            var i = range.lowerBound
            while i < range.upperBound {
                if i & 63 == 0 && i + 64 <= range.upperBound { n += words[i >> 6].nonzeroBitCount; i += 64; continue }
                if contains(i) { n += 1 }
                i += 1
            }
            return n
        }

        /// The repeating ordinals, ascending (for tests and small sets).
        public var ordinals: [Int] {
            var out: [Int] = []
            for (w, word) in words.enumerated() where word != 0 {
                for b in 0..<64 where word & (1 << UInt64(b)) != 0 { out.append(w * 64 + b) }
            }
            return out
        }
    }

    /// The ordinals of keys that already occurred at a smaller ordinal: the repeats.
    ///
    /// With `threads` > 1 the groups of partitions are shared among that many threads (each with
    /// its own buffers); the answer does not depend on it.
    /// - Parameter groupKeys: about how many keys a group holds (a test makes it small).
    /// - Complexity: O(n) time; memory one bit a key for the answer (1.25 MB for 10 M keys,
    ///   however many repeat) and about 32 bytes × `groupKeys` a thread (the largest group's keys
    ///   and ordinals, gathered and then bucketed).
    public func duplicates(threads: Int = 1, groupKeys: Int = 1 << 18) throws -> Repeats {
        try seal(toFile: false)
        let n = sealed
        guard n > 1 else { return Repeats(ordinals: n) }
        var g = 1
        while g < Self.partitions && n / g > groupKeys { g *= 2 }
        let groups = g, perGroup = Self.partitions / groups
        // Buckets of about 1,024 keys: the top `bits` bits of a key (at least the partition's).
        var b = Self.partitionBits
        while (1 << b) * 1024 < n && b < 24 { b += 1 }
        let bucketShift = 128 - b, bucketsPerGroup = (1 << b) / groups
        let blocks = self.blocks
        let workers = max(1, min(threads, groups))
        let answer = Mutex(Repeats(ordinals: n))
        _ = try concurrentMap(workers) { worker in
            var group = GroupScratch()
            for index in stride(from: worker, to: groups, by: workers) {
                try group.gather(partitions: (index * perGroup)..<((index + 1) * perGroup), of: blocks)
                group.findRepeats(shift: bucketShift, firstBucket: index * bucketsPerGroup, buckets: bucketsPerGroup) { found in
                    answer.withLock { a in for r in found { a.insert(r) } }
                }
            }
        }
        return answer.withLock { $0 }
    }

    /// One thread's buffers for finding the repeats of a group of partitions (reused group after
    /// group): the group's keys and ordinals gathered from every block, the same bucketed, and the
    /// hash table of one bucket.
    struct GroupScratch {
        var keys: [UInt128] = [], ordinals: [Int] = [], positions: [UInt32] = []
        var sortedKeys: [UInt128] = [], sortedOrdinals: [Int] = []
        var table = [UInt128](repeating: 0, count: 4096)
        var used = [Bool](repeating: false, count: 4096)

        /// Gathers the keys of `partitions` from every block, in block order, with their ordinals.
        mutating func gather(partitions: Range<Int>, of blocks: [Block]) throws {
            keys.removeAll(keepingCapacity: true)
            ordinals.removeAll(keepingCapacity: true)
            for b in blocks {
                let from = Int(b.starts[partitions.lowerBound]), to = Int(b.starts[partitions.upperBound]), m = to - from
                guard m > 0 else { continue }
                guard let f = b.file else {
                    keys.append(contentsOf: b.keys[from..<to])
                    for j in from..<to { ordinals.append(b.base + Int(b.ordinals[j])) }
                    continue
                }
                let at = keys.count
                keys.append(contentsOf: repeatElement(0, count: m))
                if positions.count < m { positions = [UInt32](repeating: 0, count: m) }
                try keys.withUnsafeMutableBytes { k in
                    try f.read(at: b.offset + from * 16, into: UnsafeMutableRawBufferPointer(rebasing: k[(at * 16)..<((at + m) * 16)]))
                }
                try positions.withUnsafeMutableBytes { p in
                    try f.read(at: b.offset + b.count * 16 + from * 4, into: UnsafeMutableRawBufferPointer(rebasing: p[0..<(m * 4)]))
                }
                for j in 0..<m { ordinals.append(b.base + Int(positions[j])) }
            }
        }

        /// Splits the gathered keys into `buckets` by their bits from `shift` up (less
        /// `firstBucket`) and hashes each bucket on its own; hands the ordinals of the repeats to
        /// `report`, 4,096 at a time. Within a bucket, blocks come in ordinal order and each
        /// block's keys in the order they were added, so the first of equal keys is the original.
        mutating func findRepeats(shift: Int, firstBucket: Int, buckets: Int, report: ([Int]) -> Void) {
            let starts = keys.withUnsafeBufferPointer { ks in
                ordinals.withUnsafeBufferPointer { os in
                    DuplicateFinder.spread(ks, shift: shift, first: firstBucket, groups: buckets, ordinal: { os[$0] },
                                           into: &sortedKeys, &sortedOrdinals)
                }
            }
            var repeats: [Int] = []
            for bucket in 0..<buckets {
                let from = starts[bucket], to = starts[bucket + 1]
                guard to - from > 1 else { continue }
                var size = 16
                while size < (to - from) * 2 { size *= 2 }
                if table.count < size {
                    table = [UInt128](repeating: 0, count: size)
                    used = [Bool](repeating: false, count: size)
                }
                let mask = size - 1
                for i in 0..<size { used[i] = false }
                for j in from..<to {
                    let k = sortedKeys[j]
                    // The low word: the bucket's keys share their top bits.
                    var slot = Int(truncatingIfNeeded: (UInt64(truncatingIfNeeded: k) &* 0x9E3779B97F4A7C15) >> 40) & mask
                    while used[slot] && table[slot] != k { slot = (slot + 1) & mask }
                    guard used[slot] else { used[slot] = true; table[slot] = k; continue }
                    repeats.append(sortedOrdinals[j])
                    if repeats.count == 4096 { report(repeats); repeats.removeAll(keepingCapacity: true) }
                }
            }
            if !repeats.isEmpty { report(repeats) }
        }
    }
}
