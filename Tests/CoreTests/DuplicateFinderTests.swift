import Testing
@testable import ReckonCore

@Suite("DuplicateFinder")
struct DuplicateFinderTests {
    @Test func findsLaterOccurrencesOnly() {
        var f = DuplicateFinder()
        for k: UInt64 in [5, 9, 5, 0, 7, 9, 5, 0, 1 << 63, 1 << 63] { f.add(k) }
        #expect(f.duplicates() == [2, 5, 6, 7, 9])
    }

    @Test func manyKeysAcrossBucketsMatchASetBasedAnswer() {
        var f = DuplicateFinder()
        var seen = Set<UInt64>()
        var expected: [Int] = []
        var x: UInt64 = 0x1234_5678_9ABC_DEF0
        for i in 0..<200_000 {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            let key = i % 97 == 0 ? UInt64(i / 97 % 50) : x  // a few small keys repeat
            f.add(key)
            if !seen.insert(key).inserted { expected.append(i) }
        }
        #expect(expected.count > 1000)
        #expect(f.duplicates() == expected)
        // Bucket groups handled one pass at a time give the same answer.
        #expect(f.duplicates(passes: 4) == expected && f.duplicates(passes: 16) == expected)
        // The same keys added as segments (the parts of a file read on several threads), then one by one.
        var g = DuplicateFinder()
        g.append(segment: Array(f.keys[0..<70_000]))
        g.append(segment: Array(f.keys[70_000..<150_000]))
        for k in f.keys[150_000...] { g.add(k) }
        #expect(g.count == 200_000 && g.duplicates() == expected && g.duplicates(passes: 16) == expected)
        // Groups shared among threads (fewer, as many as, and more threads than groups): the same answer.
        for (passes, threads) in [(16, 2), (16, 3), (4, 4), (2, 8)] {
            #expect(g.duplicates(passes: passes, threads: threads) == expected, "\(passes) passes, \(threads) threads")
        }
    }
}
