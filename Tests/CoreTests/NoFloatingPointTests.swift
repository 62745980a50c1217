import Testing

/// Money must never pass through binary floating point. This test reads every Swift source of the
/// libraries and jobs and fails on any use of Float/Double (or Foundation's Decimal/NSNumber),
/// so a Double that creeps into the money type's arithmetic — or anywhere money flows — fails the build.
@Suite("No floating point where money flows")
struct NoFloatingPointTests {
    static let forbidden = ["Double", "Float", "Float16", "Float32", "Float64", "Float80", "CGFloat",
                            "NSNumber", "NSDecimalNumber", "Decimal"]

    static func packageRoot() -> String {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path
    }

    static func swiftFiles(under dir: String) -> [String] {
        var out: [String] = []
        guard let e = FileManagerLite.list(dir) else { return [] }
        for name in e {
            let p = dir + "/" + name
            if name.hasSuffix(".swift") { out.append(p) } else if FileManagerLite.isDirectory(p) { out += swiftFiles(under: p) }
        }
        return out
    }

    /// Identifier tokens of a Swift source, with comments and string literals removed.
    static func identifiers(in source: String) -> [(String, Int)] {
        var out: [(String, Int)] = []
        var line = 1
        let s = Array(source.unicodeScalars)
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "\n" { line += 1; i += 1; continue }
            if c == "/" && i + 1 < s.count && s[i + 1] == "/" { while i < s.count && s[i] != "\n" { i += 1 }; continue }
            if c == "/" && i + 1 < s.count && s[i + 1] == "*" {
                i += 2
                while i + 1 < s.count && !(s[i] == "*" && s[i + 1] == "/") { if s[i] == "\n" { line += 1 }; i += 1 }
                i += 2; continue
            }
            if c == "\"" {
                i += 1
                while i < s.count && s[i] != "\"" { if s[i] == "\\" { i += 1 }; if i < s.count && s[i] == "\n" { line += 1 }; i += 1 }
                i += 1; continue
            }
            if c.properties.isAlphabetic || c == "_" {
                var word = ""
                while i < s.count && (s[i].properties.isAlphabetic || s[i] == "_" || ("0"..."9").contains(s[i])) { word.unicodeScalars.append(s[i]); i += 1 }
                out.append((word, line)); continue
            }
            i += 1
        }
        return out
    }

    @Test func noFloatOrDoubleInSources() throws {
        let root = Self.packageRoot()
        let files = Self.swiftFiles(under: root + "/Sources") + Self.swiftFiles(under: root + "/Jobs")
        #expect(files.count > 20, "expected to find the sources under \(root)")
        var hits: [String] = []
        for f in files {
            let text = try #require(FileManagerLite.read(f))
            for (word, line) in Self.identifiers(in: text) where Self.forbidden.contains(word) {
                hits.append("\(f):\(line): \(word)")
            }
        }
        #expect(hits.isEmpty, "binary floating point (or Foundation Decimal) found:\n\(hits.joined(separator: "\n"))")
    }

    @Test func theScannerSeesADoubleWhenThereIsOne() {
        let planted = "struct X { var amount: Double = 0 } // Float in a comment is fine\nlet s = \"Double in a string\""
        let words = Self.identifiers(in: planted).map(\.0)
        #expect(words.contains("Double"))
        #expect(words.filter { $0 == "Double" }.count == 1)
        #expect(!words.contains("Float"))
    }
}
