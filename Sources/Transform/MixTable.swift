internal import CReckonPrefetch

/// A key that carries its own 64-bit hash (a multiply-mix of its integer fields).
protocol MixHashable: Equatable {
    var mixed: UInt64 { get }
}

/// A hash table for small integer keys on the pricing path. A Swift dictionary runs SipHash over
/// every key (seeding and finalising cost about as much as the rest of a lookup); this table
/// probes on the key's own mix (`MixHashable`), keeps 32 bits of it beside each slot so that a
/// probe touches a key only when those match, and holds keys and values in two dense arrays in
/// insertion order (iteration is in that order, the same on every run).
///
/// Open addressing with linear probing, at most half full; no removal of single entries.
/// - Memory: per entry its key and value, plus 16–32 bytes of slots.
/// - Complexity: lookup and insertion O(1) expected.
struct MixTable<Key: MixHashable, Value>: Sequence {
    private(set) var keys: [Key] = []
    private(set) var values: [Value] = []
    /// Per slot: the entry's index + 1 in the low 32 bits (0: empty), the key's mix in the high ones.
    private var slots = [UInt64](repeating: 0, count: 16)

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }

    @inline(__always)
    private func find(_ k: Key, _ h: UInt64) -> (entry: Int, slot: Int) {
        let tag = h & 0xFFFF_FFFF_0000_0000
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h >> 7) & mask
        while true {
            let s = slots[i]
            if s == 0 { return (-1, i) }
            if s & 0xFFFF_FFFF_0000_0000 == tag {
                let c = Int(s & 0xFFFF_FFFF) - 1
                if keys[c] == k { return (c, i) }
            }
            i = (i + 1) & mask
        }
    }

    /// The entry of `k` (its index in `keys`/`values`), created with `make()` when missing.
    @inline(__always)
    mutating func entry(_ k: Key, orInsert make: () -> Value) -> Int {
        entry(k, mix: k.mixed, orInsert: make)
    }

    /// `entry(_:orInsert:)` for a key whose mix `h` is already known.
    @inline(__always)
    mutating func entry(_ k: Key, mix h: UInt64, orInsert make: () -> Value) -> Int {
        var (c, i) = find(k, h)
        if c >= 0 { return c }
        if (keys.count + 1) * 2 > slots.count {
            rehash(slots.count * 2)
            i = find(k, h).slot
        }
        slots[i] = h & 0xFFFF_FFFF_0000_0000 | UInt64(keys.count + 1)
        keys.append(k)
        values.append(make())
        return keys.count - 1
    }

    /// The value of entry `c` (an index `entry` returned), to update in place.
    subscript(entry c: Int) -> Value {
        get { values[c] }
        _modify { yield &values[c] }
    }

    subscript(k: Key) -> Value? {
        get {
            let c = find(k, k.mixed).entry
            return c >= 0 ? values[c] : nil
        }
        set {
            // Entries are never removed: setting nil is not supported.
            let c = entry(k) { newValue! }
            values[c] = newValue!
        }
    }

    subscript(k: Key, default make: @autoclosure () -> Value) -> Value {
        get {
            let c = find(k, k.mixed).entry
            return c >= 0 ? values[c] : make()
        }
        _modify {
            let c = entry(k, orInsert: make)
            yield &values[c]
        }
    }

    /// Asks the CPU to start loading the slot where a lookup of a key of mix `h` starts (a hint:
    /// nothing changes but when memory arrives).
    @inline(__always)
    func prefetchSlot(mix h: UInt64) {
        slots.withUnsafeBufferPointer { s in reckon_prefetch(s.baseAddress! + (Int(truncatingIfNeeded: h >> 7) & (s.count - 1))) }
    }

    /// Asks the CPU to start loading the key and value of the entry in that first slot, when the
    /// slot's mix bits match `h` (the usual case for a key already in a table at most half full).
    @inline(__always)
    func prefetchEntry(mix h: UInt64) {
        let s = slots[Int(truncatingIfNeeded: h >> 7) & (slots.count - 1)]
        guard s != 0, s & 0xFFFF_FFFF_0000_0000 == h & 0xFFFF_FFFF_0000_0000 else { return }
        let c = Int(s & 0xFFFF_FFFF) - 1
        keys.withUnsafeBufferPointer { reckon_prefetch($0.baseAddress! + c) }
        values.withUnsafeBufferPointer { reckon_prefetch($0.baseAddress! + c) }
    }

    /// Empties the table; its room is kept when `keepingCapacity`.
    mutating func removeAll(keepingCapacity: Bool) {
        keys.removeAll(keepingCapacity: keepingCapacity)
        values.removeAll(keepingCapacity: keepingCapacity)
        if keepingCapacity {
            for i in slots.indices { slots[i] = 0 }
        } else {
            slots = [UInt64](repeating: 0, count: 16)
        }
    }

    /// Empties the table and returns its keys and values (in insertion order) without copying
    /// them; the slots keep their room.
    mutating func takeEntries() -> (keys: [Key], values: [Value]) {
        defer {
            keys = []
            values = []
            for i in slots.indices { slots[i] = 0 }
        }
        return (keys, values)
    }

    /// Takes `keys` and `values` (empty; their room is what counts) as the storage of this empty
    /// table: the other half of `takeEntries`.
    mutating func adopt(keys: [Key], values: [Value]) {
        precondition(self.keys.isEmpty && keys.isEmpty && values.isEmpty)
        self.keys = keys
        self.values = values
    }

    /// Makes room for `n` entries.
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

    func makeIterator() -> some IteratorProtocol<(key: Key, value: Value)> {
        zip(keys, values).lazy.map { (key: $0, value: $1) }.makeIterator()
    }

    var underestimatedCount: Int { keys.count }
}

extension MixTable: Sendable where Key: Sendable, Value: Sendable {}
