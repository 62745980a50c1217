import Testing
import ReckonCore

@Suite("ExactTextTable: values by exact bytes, bounded")
struct ExactTextTableTests {
    private func value(_ t: ExactTextTable<Int>, _ text: String) -> Int? { Array(text.utf8).withUnsafeBytes { t.value($0) } }
    private func keep(_ t: inout ExactTextTable<Int>, _ text: String, _ v: Int) { Array(text.utf8).withUnsafeBytes { t.keep($0, v) } }

    @Test func givesBackOnlyWhatWasKeptForTheSameBytes() {
        var t = ExactTextTable<Int>()
        keep(&t, "anthropic|acct_01", 1)
        keep(&t, "", 2)
        keep(&t, "a longer text that spans several eight-byte words", 3)
        #expect(value(t, "anthropic|acct_01") == 1 && value(t, "") == 2)
        #expect(value(t, "a longer text that spans several eight-byte words") == 3)
        // Same length, one byte different; a prefix; a longer text.
        #expect(value(t, "anthropic|acct_02") == nil && value(t, "anthropic|acct_0") == nil && value(t, "anthropic|acct_011") == nil)
        keep(&t, "anthropic|acct_01", 9)   // already kept: the first value stays
        #expect(value(t, "anthropic|acct_01") == 1 && t.count == 3)
        // Tails of every length hash apart from their zero-padded neighbours.
        #expect(ExactTextTable<Int>.hash(UnsafeRawBufferPointer(start: nil, count: 0)) != [UInt8(0)].withUnsafeBytes { ExactTextTable<Int>.hash($0) })
    }

    @Test func aTextHashesTheSameWhereverItSitsAndOnlyByItsOwnBytes() {
        // Every length 0...20, alone and inside a larger buffer between other bytes: the tail is
        // read from the text's own last word, never from its neighbours.
        let text = Array("0123456789abcdefghij".utf8)
        var seen = Set<UInt64>()
        for n in 0...20 {
            let alone = Array(text[0..<n]).withUnsafeBytes { ExactTextTable<Int>.hash($0) }
            let inside = (Array("XXXXXXXX".utf8) + text[0..<n] + Array("YYYYYYYY".utf8)).withUnsafeBytes {
                ExactTextTable<Int>.hash(UnsafeRawBufferPointer(rebasing: $0[8..<(8 + n)]))
            }
            #expect(alone == inside, "length \(n)")
            seen.insert(alone)
        }
        #expect(seen.count == 21)
    }

    @Test func startsOverAtItsLimitsAndCopiesAreIndependent() {
        var t = ExactTextTable<Int>(limit: 2, byteLimit: 10)
        keep(&t, "ab", 1)
        keep(&t, "cd", 2)
        keep(&t, "ef", 3)   // a third entry: starts over
        #expect(value(t, "ab") == nil && value(t, "ef") == 3 && t.count == 1)
        keep(&t, "0123456789", 4)   // 2 + 10 bytes > 10: starts over again
        #expect(value(t, "ef") == nil && value(t, "0123456789") == 4)
        var u = ExactTextTable<Int>()
        keep(&u, "kept", 4)
        var copy = u
        keep(&copy, "xy", 5)
        #expect(value(copy, "xy") == 5 && value(u, "xy") == nil && value(copy, "kept") == 4 && value(u, "kept") == 4)
    }
}
