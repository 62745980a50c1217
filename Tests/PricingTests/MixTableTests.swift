import Testing
import ReckonCore
@testable import ReckonTransform

/// A key whose mix is chosen by the test (to force probe chains and equal 32-bit tags).
private struct TestKey: MixHashable {
    var id: Int
    var mix: UInt64
    var mixed: UInt64 { mix }
    static func == (a: TestKey, b: TestKey) -> Bool { a.id == b.id }
}

@Suite("MixTable: the pricing path's hash table")
struct MixTableTests {
    @Test func keysWithTheSameMixStayApartAndKeepInsertionOrder() {
        var t = MixTable<TestKey, Int>()
        // 300 keys, all with one mix: every lookup walks the same probe chain and matches tags.
        for i in 0..<300 { t[TestKey(id: i, mix: 0xDEAD_BEEF_0000_0001), default: 0] += i + 1 }
        for i in 0..<300 { t[TestKey(id: i, mix: 0xDEAD_BEEF_0000_0001), default: 0] += 1 }
        #expect(t.count == 300)
        #expect(t[TestKey(id: 7, mix: 0xDEAD_BEEF_0000_0001)] == 9)
        #expect(t[TestKey(id: 300, mix: 0xDEAD_BEEF_0000_0001)] == nil)
        #expect(t.map(\.key.id) == Array(0..<300))
        #expect(t.map(\.value) == (0..<300).map { $0 + 2 })
    }

    @Test func growingAndEmptyingKeepEveryEntry() {
        var t = MixTable<TestKey, Int>()
        for round in 0..<2 {
            for i in 0..<50_000 { t[TestKey(id: i, mix: UInt64(i) &* 0x9E37_79B9_7F4A_7C15)] = i * 3 + round }
            #expect(t.count == 50_000)
            #expect((0..<50_000).allSatisfy { t[TestKey(id: $0, mix: UInt64($0) &* 0x9E37_79B9_7F4A_7C15)] == $0 * 3 + round })
            t.removeAll(keepingCapacity: round == 0)
            #expect(t.isEmpty)
            #expect(t[TestKey(id: 1, mix: 0x9E37_79B9_7F4A_7C15)] == nil)
        }
    }

    @Test func cellsSumExactly() {
        var cells = CellTable()
        let key = EstimatedRowBuilder.Key(chargeStart: 0, chargeEnd: 86_400, billingAccount: 1, subAccount: 2, provider: 3, model: 4,
                                          reportedModel: 4, meter: 5, tier: 6, rate: 7, tags: -1)
        cells.add(key, ExactDecimal(significand: 15, scale: 1))
        cells.add(key, ExactDecimal(significand: 25, scale: 2))
        var other = key
        other.tags = 0
        cells.add(other, ExactDecimal(1))
        #expect(cells.count == 2)
        #expect(cells[key]?.description == "1.75")
        #expect(cells[other]?.description == "1.0")
    }

    @Test func packedSortKeysOrderAsTheirFieldsDo() {
        // Ten fields of 1, 13 × 8 and 9 bits (115 bits): packed order = field-by-field order.
        var fields: [[UInt64]] = []
        var x: UInt64 = 0x2545_F491_4F6C_DD1D
        for _ in 0..<2_000 {
            var f: [UInt64] = []
            for (k, bits) in [1, 13, 13, 13, 13, 13, 13, 13, 9, 13].enumerated() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17
                // Few distinct values in the leading fields, so that later fields decide often.
                f.append(k < 4 ? x % 3 : x & ((1 << UInt64(bits)) - 1))
            }
            fields.append(f)
        }
        let widths = [1, 13, 13, 13, 13, 13, 13, 13, 9, 13]
        let packed = fields.enumerated().map { n, f -> EstimatedRowBuilder.PackedKey in
            var key = EstimatedRowBuilder.PackedKey(hi: 0, lo: 0, index: Int32(n))
            for (v, w) in zip(f, widths) { key.push(v, w) }
            return key
        }
        let byPacked = packed.sorted { ($0.hi, $0.lo) < ($1.hi, $1.lo) }.map { Int($0.index) }
        let byFields = fields.indices.sorted { fields[$0].lexicographicallyPrecedes(fields[$1]) }
        #expect(byPacked.map { fields[$0] } == byFields.map { fields[$0] })
        // The radix sort the final pass uses gives the same order (2,000 keys in 114 bits).
        var radix = packed
        EstimatedRowBuilder.PackedKey.sort(&radix, bits: widths.reduce(0, +))
        #expect(radix.map { Int($0.index) } == byPacked)
    }

    @Test func theRadixSortOrdersKeysOfEveryWidthAsComparisonDoes() {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
        for bits in [1, 11, 12, 53, 54, 63, 64, 65, 75, 100, 128] {
            let loMask: UInt64 = bits >= 64 ? ~0 : (1 << UInt64(bits)) - 1
            let hiMask: UInt64 = bits <= 64 ? 0 : bits >= 128 ? ~0 : (1 << UInt64(bits - 64)) - 1
            for n in [0, 1, 511, 512, 3_000] where bits >= 12 || n <= 1 << bits {
                var seen = Set<[UInt64]>()
                var keys: [EstimatedRowBuilder.PackedKey] = []
                while keys.count < n {
                    // Few distinct high parts, so that the low digits decide often.
                    let lo = next() & loMask, hi = (next() % 5) & hiMask
                    if seen.insert([hi, lo]).inserted { keys.append(.init(hi: hi, lo: lo, index: Int32(keys.count))) }
                }
                var radix = keys
                EstimatedRowBuilder.PackedKey.sort(&radix, bits: bits)
                let compared = keys.sorted { ($0.hi, $0.lo) < ($1.hi, $1.lo) }
                #expect(radix.map(\.index) == compared.map(\.index), "\(bits) bits, \(n) keys")
            }
        }
    }
}
