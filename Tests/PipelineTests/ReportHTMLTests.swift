import Foundation
import Testing
import ReckonCore
import ReckonFocus

/// Headless Chromium (Debian package `chromium`; `make deps` installs it when it can).
enum Browser {
    static let path: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs the browser headless on a local file and returns what it printed on stdout.
    static func run(_ args: [String], file: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path!)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                       "--user-data-dir=" + Jobs.tempDir("chromium-profile")] + args + ["file://" + file]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

@Suite("index.html: one self-contained file with the charts, checked in a real browser", .serialized)
struct ReportHTMLTests {
    /// `(attributes)` of each `<rect class="…">` inside the figure with this id, in document order.
    static func rects(_ dom: String, figure id: String, class cls: String) -> [[String: String]] {
        guard let start = dom.range(of: "<figure id=\"\(id)\""), let end = dom[start.upperBound...].range(of: "</figure>") else { return [] }
        let part = String(dom[start.lowerBound..<end.upperBound])
        let tag = try! NSRegularExpression(pattern: "<rect class=\"\(cls)\"([^>]*)>")
        let attr = try! NSRegularExpression(pattern: "([a-z-]+)=\"([^\"]*)\"")
        return tag.matches(in: part, range: NSRange(part.startIndex..., in: part)).map { m in
            let attrs = String(part[Range(m.range(at: 1), in: part)!])
            var out: [String: String] = [:]
            for a in attr.matches(in: attrs, range: NSRange(attrs.startIndex..., in: attrs)) {
                out[String(attrs[Range(a.range(at: 1), in: attrs)!])] = String(attrs[Range(a.range(at: 2), in: attrs)!])
            }
            return out
        }
    }

    static func sum(_ rects: [[String: String]]) -> ExactDecimal { rects.compactMap { $0["data-amount"].flatMap { ExactDecimal($0) } }.sum() }

    @Test func theReportIsSelfContainedAndItsChartsAddUp() throws {
        let out = Jobs.tempDir("html")
        #expect(try Jobs.nightly(input: "Samples", output: out).status == 0)
        let path = out + "/reports/billing_period=2026-10/index.html"
        let html = try Jobs.read(path)
        // Nothing to fetch: no script, stylesheet link, image, frame, font or URL.
        for banned in ["<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import", "https:"] {
            #expect(!html.contains(banned), "\(banned)")
        }
        try check(dom: html, out: out)
    }

    @Test(.enabled(if: Browser.path != nil, "headless Chromium is not installed (apt-get install chromium)"))
    func chromiumRendersTheChartsWithTheReportsNumbers() throws {
        let out = Jobs.tempDir("html-browser")
        #expect(try Jobs.nightly(input: "Samples", output: out).status == 0)
        let path = out + "/reports/billing_period=2026-10/index.html"
        // The DOM as the browser built it from the file (an HTML parser that forgives nothing silently
        // would move misplaced elements out of the SVG; the counts below would then not match).
        let dom = try Browser.run(["--dump-dom"], file: path)
        #expect(dom.contains("<svg"), "\(dom.prefix(300))")
        try check(dom: dom, out: out)
        // And it paints: a full-page screenshot of the right size.
        let png = Jobs.tempDir("html-shot") + "/page.png"
        _ = try Browser.run(["--window-size=1200,2600", "--screenshot=" + png], file: path)
        let bytes = try #require(FileManager.default.contents(atPath: png))
        #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1200 && height == 2600)
        #expect(bytes.count > 20_000)  // a blank page of that size compresses to a few kB
    }

    /// The charts agree with the datasets and the report, exactly.
    func check(dom: String, out: String) throws {
        let estimated = try FocusReader.rows(inJSONL: out + "/focus/estimated/billing_period=2026-10/part-00000.jsonl")
        let usage = estimated.filter { $0[.chargeCategory] == .string("Usage") && $0[.chargeClass] == .null }
        let report = try JSONParser.parse(Array(Jobs.read(out + "/reports/billing_period=2026-10/reconciliation.json").utf8))
        let accounts = try #require(report["accounts"]?.array)

        // Daily spend: one segment per day and provider with usage cost; they sum to the usage rows.
        let daily = Self.rects(dom, figure: "daily-spend", class: "bar")
        // 31 days × Anthropic and OpenAI, and PromptLayer on the 6 days (of its 15 on Pro) its
        // requests went beyond Pro's prorated allowance.
        #expect(daily.count == 68)
        #expect(daily.filter { $0["data-provider"] == "PromptLayer" }.count == 6)
        #expect(Self.sum(daily) == usage.compactMap { $0[.billedCost].decimal }.sum())
        #expect(Set(daily.compactMap { $0["data-provider"] }) == ["Anthropic", "OpenAI", "PromptLayer"])
        let oct1 = daily.filter { $0["data-day"] == "2026-10-01" && $0["data-provider"] == "Anthropic" }
        #expect(Self.sum(oct1) == usage.filter { $0[.serviceProviderName] == .string("Anthropic") && $0[.chargePeriodStart] == .dateTime(Timestamp(rfc3339: "2026-10-01T00:00:00Z")!) }
            .compactMap { $0[.billedCost].decimal }.sum())

        // Spend by team: every estimated row, by team.
        let teams = Self.rects(dom, figure: "spend-by-team", class: "bar")
        #expect(Self.sum(teams) == estimated.compactMap { $0[.billedCost].decimal }.sum())
        #expect(teams.first?["data-label"] == "(untagged)")

        // One waterfall per account: estimated, the bridge's causes, invoiced; the causes add up to the variance.
        for (k, a) in accounts.enumerated() {
            let steps = Self.rects(dom, figure: "bridge-\(k)", class: "step")
            #expect(steps.first?["data-category"] == "estimated" && steps.first.flatMap { $0["data-amount"] }.flatMap { ExactDecimal($0) } == a["estimated"]?.decimal)
            #expect(steps.last?["data-category"] == "invoiced" && steps.last.flatMap { $0["data-amount"] }.flatMap { ExactDecimal($0) } == a["invoiced"]?.decimal)
            let causes = steps.filter { $0["data-kind"] == "cause" }
            #expect(Self.sum(causes) == a["variance"]?.decimal)
            let bridge = (a["bridge"]?.array ?? []).filter { $0["amount"]?.decimal != 0 }.compactMap { $0["category"]?.string }
            #expect(causes.compactMap { $0["data-category"] } == bridge)
        }
        let anthropic = Self.rects(dom, figure: "bridge-0", class: "step").map { "\($0["data-category"]!) \($0["data-amount"]!)" }
        #expect(anthropic == ["estimated 1405.95", "tax -2.01", "credit -10.0", "quantity 12.01", "rounding -0.01", "unmatched_usage -13.74", "invoiced 1392.2"])

        // Top models: Sonnet 4.5 first, at its exact estimated cost.
        let models = Self.rects(dom, figure: "top-models", class: "bar")
        #expect(models.count == 7)
        #expect(models.first?["data-label"] == "anthropic:claude-sonnet-4-5")
        #expect(models.first.flatMap { $0["data-amount"] }.flatMap { ExactDecimal($0) }
                == usage.filter { ($0[.skuId].string ?? "").hasPrefix("anthropic:claude-sonnet-4-5:") }.compactMap { $0[.billedCost].decimal }.sum())
    }
}
