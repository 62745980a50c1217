extension String {
    public func trimmingCharacters(in set: String) -> String {
        let chars = Set(set.unicodeScalars)
        var scalars = Substring(self).unicodeScalars[...]
        while let f = scalars.first, chars.contains(f) { scalars.removeFirst() }
        while let l = scalars.last, chars.contains(l) { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    /// Trims spaces, tabs and line breaks at both ends.
    public var trimmed: String { trimmingCharacters(in: " \t\r\n") }
}

/// FNV-1a, 64 bits: a fast non-cryptographic hash of bytes (interning keys, duplicate detection).
@inlinable
public func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xcbf29ce484222325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
    return h
}

/// The key a request id is compared by: its FNV-1a (64 bits) above a second 64-bit hash of the
/// same bytes (a multiply-mix of 8-byte words and the length), so that two different ids have the
/// same key with odds of about n² / 2^129 among n ids — about 1 in 10^25 for 10 M ids, where
/// 64 bits alone gave about 3 in a million, each a valid record taken for a duplicate.
/// - Complexity: O(bytes).
@inlinable
public func requestIdKey(_ bytes: UnsafeRawBufferPointer) -> UInt128 {
    var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(truncatingIfNeeded: bytes.count)
    @inline(__always) func step(_ w: UInt64) {
        h = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 29
    }
    var i = 0
    while i + 8 <= bytes.count {
        step(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        i += 8
    }
    if i < bytes.count {
        var w: UInt64 = 0
        for (k, b) in bytes[i...].enumerated() { w |= UInt64(b) << (8 * UInt64(k)) }
        step(w)
    }
    h = (h ^ (h >> 32)) &* 0xC4CE_B9FE_1A85_EC53
    h ^= h >> 29
    return UInt128(fnv1a64(bytes)) << 64 | UInt128(h)
}
