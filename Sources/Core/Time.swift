// Calendar arithmetic in UTC, on integers: no time zones, no locale, no Foundation formatters,
// so that every run prints the same bytes.

/// A calendar date (proleptic Gregorian), e.g. an invoice's issue date or period bound.
public struct CivilDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// - Returns: `nil` unless the date exists (2026-02-30 does not).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1,
              day <= CivilDate.daysIn(year: year, month: month) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD` (UBL) or `YYYYMMDD` (CII format 102).
    public init?(_ text: some StringProtocol) {
        let b = Array(text.utf8)
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        if b.count == 10 && b[4] == UInt8(ascii: "-") && b[7] == UInt8(ascii: "-"),
           let y = num(0..<4), let m = num(5..<7), let d = num(8..<10) {
            self.init(year: y, month: m, day: d)
        } else if b.count == 8, let y = num(0..<4), let m = num(4..<6), let d = num(6..<8) {
            self.init(year: y, month: m, day: d)
        } else {
            return nil
        }
    }

    public static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    public static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (negative before). Civil-from-days arithmetic on 400-year eras.
    public var daysSinceEpoch: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    public init(daysSinceEpoch days: Int) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        // Values computed here are always valid dates.
        self.year = m <= 2 ? era * 400 + yoe + 1 : era * 400 + yoe
        self.month = m
        self.day = d
    }

    public func adding(days: Int) -> CivilDate { CivilDate(daysSinceEpoch: daysSinceEpoch + days) }

    /// Midnight UTC at the start of this date.
    public var startOfDay: Timestamp { Timestamp(secondsSinceEpoch: Int64(daysSinceEpoch) * 86_400) }

    public var description: String {
        pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
    }

    public static func < (a: CivilDate, b: CivilDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }
}

/// An instant in UTC with one-second resolution; FOCUS date/time columns use this.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let secondsSinceEpoch: Int64

    public init(secondsSinceEpoch: Int64) { self.secondsSinceEpoch = secondsSinceEpoch }

    /// Parses RFC 3339 (`2026-10-01T00:00:00Z`, `…T00:00:00.000Z`, `…T02:00:00+02:00`).
    /// Fractional seconds are dropped (bucket bounds are whole seconds).
    public init?(rfc3339 text: some StringProtocol) {
        var s = String(text)
        guard let t = s.withUTF8({ Timestamp(rfc3339: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = t
    }

    /// Parses RFC 3339 from bytes, without allocating.
    public init?(rfc3339 b: UnsafeRawBufferPointer) {
        if let t = Self.utcSeconds(b) { self.init(secondsSinceEpoch: t); return }
        guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":") else { return nil }
        func num(_ from: Int, _ to: Int) -> Int? {
            var v = 0
            for i in from..<to {
                guard i < b.count, b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 7), let d = num(8, 10),
              let date = CivilDate(year: y, month: mo, day: d),
              let h = num(11, 13), let mi = num(14, 16), let s = num(17, 19),
              h < 24, mi < 60, s < 61 else { return nil }
        var i = 19
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count && b[i] >= 48 && b[i] <= 57 { i += 1 }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            guard i + 1 == b.count else { return nil }
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard i + 6 == b.count, b[i + 3] == UInt8(ascii: ":"),
                  let oh = num(i + 1, i + 3), let om = num(i + 4, i + 6), oh < 24, om < 60 else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "+") ? 1 : -1)
        } else {
            return nil
        }
        let secs = Int64(date.daysSinceEpoch) * 86_400 + Int64(h * 3600 + mi * 60 + s) - Int64(offset)
        self.init(secondsSinceEpoch: secs)
    }

    /// The common form, `YYYY-MM-DDTHH:MM:SSZ` exactly (20 bytes), in straight-line code: the
    /// seconds since the epoch, or `nil` for anything else (the general parser then decides, with
    /// the same result for this form).
    @inline(__always)
    static func utcSeconds(_ b: UnsafeRawBufferPointer) -> Int64? {
        guard b.count == 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b[19] == 0x5A else { return nil }
        // A byte below '0' wraps around to a large value: the largest "digit" must be below 10.
        var largest: UInt = 0
        @inline(__always) func d(_ i: Int) -> Int {
            let v = UInt(b[i]) &- 48
            largest = Swift.max(largest, v)
            return Int(truncatingIfNeeded: v)
        }
        let y = d(0) &* 1000 &+ d(1) &* 100 &+ d(2) &* 10 &+ d(3), mo = d(5) &* 10 &+ d(6), day = d(8) &* 10 &+ d(9)
        let h = d(11) &* 10 &+ d(12), mi = d(14) &* 10 &+ d(15), sec = d(17) &* 10 &+ d(18)
        guard largest < 10, h < 24, mi < 60, sec < 61, let date = CivilDate(year: y, month: mo, day: day) else { return nil }
        return Int64(date.daysSinceEpoch) * 86_400 + Int64(h * 3600 + mi * 60 + sec)
    }

    public var date: CivilDate {
        CivilDate(daysSinceEpoch: Int((secondsSinceEpoch - floorMod(secondsSinceEpoch, 86_400)) / 86_400))
    }

    /// Midnight UTC at or before this instant.
    public var startOfDay: Timestamp {
        Timestamp(secondsSinceEpoch: secondsSinceEpoch - floorMod(secondsSinceEpoch, 86_400))
    }

    /// The start of the hour at or before this instant.
    public var startOfHour: Timestamp {
        Timestamp(secondsSinceEpoch: secondsSinceEpoch - floorMod(secondsSinceEpoch, 3_600))
    }

    public func adding(seconds: Int64) -> Timestamp { Timestamp(secondsSinceEpoch: secondsSinceEpoch + seconds) }

    /// FOCUS DateTimeFormat: exactly `YYYY-MM-DDTHH:mm:ssZ`.
    public var description: String {
        let s = floorMod(secondsSinceEpoch, 86_400)
        return date.description + "T" + pad(Int(s / 3600), 2) + ":" + pad(Int(s / 60 % 60), 2) + ":" + pad(Int(s % 60), 2) + "Z"
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.secondsSinceEpoch < b.secondsSinceEpoch }
}

/// A calendar month in UTC: the billing period of every provider Reckon reads today.
/// `start` is inclusive and `end` exclusive, as FOCUS requires.
public struct BillingPeriod: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int

    public init?(year: Int, month: Int) {
        guard (1...9999).contains(year), (1...12).contains(month) else { return nil }
        self.year = year
        self.month = month
    }

    /// Parses `YYYY-MM`.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-")
        guard text.count == 7, parts.count == 2, parts[0].count == 4, parts[1].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]) else { return nil }
        self.init(year: y, month: m)
    }

    /// The month containing `instant`.
    public init(containing instant: Timestamp) {
        let d = instant.date
        year = d.year
        month = d.month
    }

    public var firstDay: CivilDate { CivilDate(year: year, month: month, day: 1)! }
    public var next: BillingPeriod {
        month == 12 ? BillingPeriod(year: year + 1, month: 1)! : BillingPeriod(year: year, month: month + 1)!
    }
    public var start: Timestamp { firstDay.startOfDay }
    public var end: Timestamp { next.start }

    public func contains(_ t: Timestamp) -> Bool { t >= start && t < end }

    public var description: String { pad(year, 4) + "-" + pad(month, 2) }

    public static func < (a: BillingPeriod, b: BillingPeriod) -> Bool { (a.year, a.month) < (b.year, b.month) }
}

@inline(__always)
func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
    let r = a % b
    return r < 0 ? r + b : r
}

@inline(__always)
func pad(_ v: Int, _ width: Int) -> String {
    let s = String(v)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

/// Where each provider's billing month begins: usage timestamps are UTC, but a provider may
/// invoice calendar months of its own time zone. The optional `billing_time_zones.csv`
/// (`provider,utc_offset`, e.g. `google,-07:00`) gives a fixed offset per provider (daylight
/// saving is not applied: give the offset in force at the month boundaries). Without a row a
/// provider bills UTC months.
public struct BillingTimeZones: Sendable {
    /// Provider id (lower case) → offset east of UTC, in seconds.
    public private(set) var offsets: [String: Int64] = [:]

    public init(offsets: [String: Int64] = [:]) { self.offsets = offsets }

    public var isEmpty: Bool { offsets.isEmpty }

    public static func load(path: String) throws -> BillingTimeZones {
        var result = BillingTimeZones()
        for (line, f) in try ConfigFile.rows(path, header: ["provider", "utc_offset"]) {
            guard !f[0].isEmpty, let offset = Self.parseOffset(f[1]) else {
                throw ReckonError(.badData, "expected provider,utc_offset with an offset such as -07:00, +09:00 or Z",
                                  at: SourcePosition(file: path, line: line))
            }
            result.offsets[f[0].lowercased()] = offset
        }
        return result
    }

    /// `Z`, `+HH:MM` or `-HH:MM` (at most 14 hours) → seconds east of UTC.
    static func parseOffset(_ text: String) -> Int64? {
        if text == "Z" || text == "+00:00" || text == "-00:00" { return 0 }
        let u = Array(text.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "+") || u[0] == UInt8(ascii: "-"), u[3] == UInt8(ascii: ":"),
              let h = Int(String(decoding: u[1..<3], as: UTF8.self)), let m = Int(String(decoding: u[4..<6], as: UTF8.self)),
              h <= 14, m < 60 else { return nil }
        return Int64(h * 3600 + m * 60) * (u[0] == UInt8(ascii: "-") ? -1 : 1)
    }

    public func offset(_ provider: String) -> Int64 { offsets[provider] ?? 0 }

    /// The billing period an instant falls in, for a provider offset.
    public static func period(of t: Timestamp, offset: Int64) -> BillingPeriod {
        offset == 0 ? BillingPeriod(containing: t) : BillingPeriod(containing: Timestamp(secondsSinceEpoch: t.secondsSinceEpoch + offset))
    }

    /// A period's bounds as UTC instants for a provider offset: [start, end).
    public static func bounds(_ p: BillingPeriod, offset: Int64) -> (start: Timestamp, end: Timestamp) {
        (Timestamp(secondsSinceEpoch: p.start.secondsSinceEpoch - offset), Timestamp(secondsSinceEpoch: p.end.secondsSinceEpoch - offset))
    }
}
