#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Testing
import ReckonCore
@testable import ReckonTransform

/// The estimate's spilled cells: written in block-padded batches (direct where the file system
/// allows), read back a day at a time — every cell of the day, none of another, whatever the
/// segment's size against the 1 MiB read buffer.
@Suite("Cell spill")
struct CellSpillTests {
    typealias Key = EstimatedRowBuilder.Key

    static func key(day: Int64, _ n: Int) -> Key {
        Key(chargeStart: day * 86_400, chargeEnd: day * 86_400 + 86_400, billingAccount: Int32(n % 3), subAccount: Int32(n % 20),
            provider: 1, model: Int32(n % 12), reportedModel: Int32(n % 13), meter: Int32(n % 5), tier: -1, rate: Int32(n % 300),
            tags: Int32(n))
    }

    static func quantity(_ n: Int) -> ExactDecimal {
        // Wide and negative significands, several scales: every byte of the record matters.
        ExactDecimal(significand: (Int128(n) << 70) &+ Int128(n &* 7919) &* (n % 2 == 0 ? 1 : -1), scale: n % 13)
    }

    @Test(arguments: ["/tmp", "/dev/shm"])
    func everyCellComesBackOnItsDay(root: String) throws {
        guard FileSystem.isDirectory(root) else { return }
        let folder = root + "/reckon-cellspill-\(getpid())"
        defer { rmdir(folder) }
        let spill = try CellSpill(folder: folder)
        var expected: [Int64: [String]] = [:]
        func text(_ k: Key, _ q: ExactDecimal) -> String { "\(k.chargeStart) \(k.tags) \(k.rate) \(k.subAccount) \(q)" }
        // Batch 1: 40,000 cells on day 20,390 (2.9 MB: more than a read buffer), 5 on the next, 30,000 on the one after;
        // batch 2: 20,000 cells on the last two days; batch 3: one cell.
        var n = 0
        for batch in [[(20_390, 40_000), (20_391, 5), (20_392, 30_000)], [(20_391, 7_000), (20_392, 13_000)], [(20_400, 1)]] {
            var table = CellTable()
            for (day, count) in batch {
                for _ in 0..<count {
                    let (k, q) = (Self.key(day: Int64(day), n), Self.quantity(n))
                    table.add(k, q)
                    expected[Int64(day), default: []].append(text(k, q))
                    n += 1
                }
            }
            try spill.append(table)
        }
        #expect(spill.records == n)
        #expect(Set(spill.segments.keys) == [20_390, 20_391, 20_392, 20_400])
        for day: Int64 in [20_389, 20_390, 20_391, 20_392, 20_400] {
            var got: [String] = []
            try spill.forEach(day: day) { k, q in got.append(text(k, q)) }
            #expect(got.sorted() == (expected[day] ?? []).sorted(), "day \(day) on \(root)")
        }
    }
}
