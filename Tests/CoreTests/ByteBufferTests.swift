import Testing
@testable import ReckonCore

@Suite("ByteBuffer")
struct ByteBufferTests {
    @Test func appendsPastItsFirstRoomAndEmptiesForReuse() {
        var b = ByteBuffer(capacity: 16)
        var expected: [UInt8] = []
        for i in 0..<1_000 {
            let part = [UInt8](repeating: UInt8(i % 251), count: i % 37)
            b.append(part)
            b.append(0x2C)
            expected += part
            expected.append(0x2C)
        }
        #expect(b.count == expected.count)
        #expect(b.withBytes { Array($0) } == expected)
        b.removeAll()
        #expect(b.count == 0)
        "abc".utf8.withContiguousStorageIfAvailable { b.append(UnsafeRawBufferPointer($0)) }
        #expect(b.withBytes { Array($0) } == Array("abc".utf8))
    }
}
