/// Bytes kept at addresses that never move: handed out as buffer pointers that stay valid until
/// `removeAll()` or the arena's end. For short keys that many records point to (tag keys), so
/// that a record holds a pointer instead of an array (whose retain and release per record showed
/// as a fifth of extract's profile).
/// - Memory: the bytes stored, in 64 KiB chunks (a larger piece gets a chunk of its own).
public final class ByteArena {
    private var chunks: [(base: UnsafeMutableRawPointer, capacity: Int)] = []
    private var used = 0

    public init() {}

    deinit { for c in chunks { c.base.deallocate() } }

    /// A copy of `bytes` that stays where it is until `removeAll()`.
    public func store(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let n = bytes.count
        if chunks.isEmpty || used + n > chunks[chunks.count - 1].capacity {
            let size = max(n, 1 << 16)
            chunks.append((.allocate(byteCount: size, alignment: 8), size))
            used = 0
        }
        let at = chunks[chunks.count - 1].base + used
        if n > 0 { at.copyMemory(from: bytes.baseAddress!, byteCount: n) }
        used += n
        return UnsafeRawBufferPointer(start: at, count: n)
    }

    public func store(_ bytes: [UInt8]) -> UnsafeRawBufferPointer { bytes.withUnsafeBytes { store($0) } }

    /// Forgets everything stored (pointers handed out become invalid); keeps the first chunk.
    public func removeAll() {
        guard !chunks.isEmpty else { return }
        for c in chunks.dropFirst() { c.base.deallocate() }
        chunks.removeLast(chunks.count - 1)
        used = 0
    }
}
