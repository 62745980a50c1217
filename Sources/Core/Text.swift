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
