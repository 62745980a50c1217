import ReckonCore

/// `index.html`: the reconciliation for people, as one self-contained file — inline CSS and SVG,
/// no script, no font, no image, no link to anything outside it, so it opens from a mail
/// attachment or a file share exactly as it was written.
///
/// Charts: daily spend by provider (stacked columns), spend by team, the variance bridge of each
/// account as a waterfall (estimated → causes → invoiced), top models by estimated cost. Every
/// bar carries its exact amount in `data-amount` and a `<title>` (what a browser shows on hover);
/// geometry is computed with `ExactDecimal` and written to one decimal (display only).
/// Cost: O(days × providers + teams + accounts × causes + models) text.
public enum ReportHTML {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func cents(_ d: ExactDecimal) -> String { d.formatted(fractionDigits: 2, .halfAwayFromZero) }

    /// `value` scaled to `length` pixels against `max`, one decimal (display only).
    static func px(_ value: ExactDecimal, of max: ExactDecimal, _ length: Int) -> ExactDecimal {
        guard !max.isZero else { return .zero }
        return (value.magnitude * ExactDecimal(length)).divided(by: max, scale: 1, .halfAwayFromZero) ?? .zero
    }

    static let palette = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5"]

    /// A horizontal bar chart of labelled amounts (largest first as given).
    static func bars(id: String, title: String, _ items: [(label: String, amount: ExactDecimal)], currency: String) -> String {
        let rowHeight = 22, labelWidth = 220, barWidth = 420
        let height = max(1, items.count) * rowHeight + 10
        let top = items.map(\.amount.magnitude).max() ?? .zero
        var s = "<figure id=\"\(id)\"><figcaption>\(escape(title))</figcaption>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(labelWidth + barWidth + 110)\" height=\"\(height)\" role=\"img\" aria-label=\"\(escape(title))\">\n"
        for (k, item) in items.enumerated() {
            let y = k * rowHeight + 5
            let w = px(item.amount, of: top, barWidth)
            s += "<text x=\"\(labelWidth - 6)\" y=\"\(y + 15)\" text-anchor=\"end\">\(escape(item.label))</text>"
            s += "<rect class=\"bar\" data-label=\"\(escape(item.label))\" data-amount=\"\(item.amount)\" x=\"\(labelWidth)\" y=\"\(y)\" width=\"\(w)\" height=\"\(rowHeight - 6)\" fill=\"\(palette[0])\">"
            s += "<title>\(escape(item.label)): \(cents(item.amount)) \(escape(currency))</title></rect>"
            s += "<text x=\"\(ExactDecimal(labelWidth + 6) + w)\" y=\"\(y + 15)\">\(cents(item.amount))</text>\n"
        }
        return s + "</svg></figure>\n"
    }

    public static func render(_ rec: Reconciliation) -> String {
        let currency = Set(rec.accounts.map(\.currency)).sorted().joined(separator: "/")
        var s = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Reckon — billing period \(rec.period)</title>
        <style>
        body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
        table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}td.n{text-align:right;font-variant-numeric:tabular-nums}
        figure{margin:1.5em 0}figcaption{font-weight:600;margin-bottom:.4em}svg text{font-size:12px;fill:#222}
        .legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
        </style></head><body>
        <h1>Reconciliation, billing period \(rec.period)</h1>
        <p>Estimated = usage × rate card; invoiced = the invoices as FOCUS rows; variance = invoiced − estimated. Amounts to the cent (half away from zero); <code>reconciliation.json</code> has them exact.</p>

        """
        s += "<table id=\"accounts\"><tr><th>Provider</th><th>Billing account</th><th>Currency</th><th>Estimated</th><th>Invoiced</th><th>Variance</th><th>Status</th></tr>\n"
        for a in rec.accounts {
            s += "<tr><td>\(escape(a.provider))</td><td>\(escape(a.billingAccountId))</td><td>\(escape(a.currency))</td>"
            s += "<td class=\"n\">\(cents(a.estimated))</td><td class=\"n\">\(cents(a.invoiced))</td><td class=\"n\">\(cents(a.variance))</td><td>\(a.status.rawValue)</td></tr>\n"
        }
        s += "</table>\n"
        s += dailyChart(rec, currency: currency)
        var teams: [String: ExactDecimal] = [:]
        for a in rec.accounts { for (t, v) in a.estimatedByTeam { teams[t, default: .zero] += v } }
        s += bars(id: "spend-by-team", title: "Estimated spend by team (\(currency))",
                  teams.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { ($0.key, $0.value) }, currency: currency)
        for (k, a) in rec.accounts.enumerated() { s += waterfall(a, index: k) }
        var models: [String: ExactDecimal] = [:]
        for a in rec.accounts {
            for (sku, t) in a.skus where t.inEstimate {
                let parts = sku.split(separator: ":")
                let model = parts.count > 2 ? "\(parts[0]):\(parts[1])" : sku
                models[model, default: .zero] += t.estimatedCost
            }
        }
        let top = models.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(10).map { ($0.key, $0.value) }
        s += bars(id: "top-models", title: "Top models by estimated cost (\(currency))", Array(top), currency: currency)
        if !rec.anomalies.isEmpty || !rec.violations.isEmpty || !rec.budgets.isEmpty {
            s += "<h2>Budgets, policies and anomalies</h2><ul id=\"alerts\">\n"
            for b in rec.budgets where b["status"]?.string != "ok" {
                s += "<li>Budget \(escape(b["scope"]?.string ?? ""))=\(escape(b["value"]?.string ?? "")): \(escape(b["status"]?.string ?? "")) (spend \(escape(b["spend"]?.string ?? "")) of \(escape(b["budget"]?.string ?? "")))</li>\n"
            }
            for v in rec.violations {
                s += "<li>Policy: team \(escape(v["team"]?.string ?? "")) used \(escape(v["model"]?.string ?? "")) (\(escape(v["cost"]?.string ?? "")))</li>\n"
            }
            for a in rec.anomalies {
                s += "<li>Anomaly \(escape(a["kind"]?.string ?? "")) on \(escape(a["day"]?.string ?? "")): \(escape(a["tag"]?.string ?? ""))=\(escape(a["value"]?.string ?? ""))</li>\n"
            }
            s += "</ul>\n"
        }
        return s + "</body></html>\n"
    }

    /// Stacked columns: one per day, one segment per provider.
    static func dailyChart(_ rec: Reconciliation, currency: String) -> String {
        let days = rec.dailySpend.keys.sorted()
        let providers = Set(rec.dailySpend.values.flatMap(\.keys)).sorted()
        let height = 220, column = 24, left = 60
        let top = days.map { rec.dailySpend[$0]!.values.sum() }.max() ?? .zero
        var s = "<figure id=\"daily-spend\"><figcaption>Daily estimated spend by provider (\(escape(currency)))</figcaption>\n<p class=\"legend\">"
        for (k, p) in providers.enumerated() { s += "<span><i style=\"background:\(palette[k % palette.count])\"></i>\(escape(p))</span>" }
        s += "</p>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + max(1, days.count) * column + 20)\" height=\"\(height + 40)\" role=\"img\" aria-label=\"Daily spend by provider\">\n"
        s += "<text x=\"\(left - 6)\" y=\"14\" text-anchor=\"end\">\(cents(top))</text><text x=\"\(left - 6)\" y=\"\(height + 4)\" text-anchor=\"end\">0</text>\n"
        s += "<line x1=\"\(left)\" y1=\"\(height)\" x2=\"\(left + days.count * column)\" y2=\"\(height)\" stroke=\"#888\"/>\n"
        for (d, day) in days.enumerated() {
            var base = ExactDecimal(height)
            let x = left + d * column + 2
            for (k, p) in providers.enumerated() {
                guard let amount = rec.dailySpend[day]?[p], !amount.isZero else { continue }
                let h = px(amount, of: top, height - 10)
                base -= h
                s += "<rect class=\"bar\" data-day=\"\(day)\" data-provider=\"\(escape(p))\" data-amount=\"\(amount)\" x=\"\(x)\" y=\"\(base)\" width=\"\(column - 4)\" height=\"\(h)\" fill=\"\(palette[k % palette.count])\">"
                s += "<title>\(day) \(escape(p)): \(cents(amount))</title></rect>"
            }
            if d % 7 == 0 { s += "<text x=\"\(x)\" y=\"\(height + 16)\">\(day.dropFirst(5))</text>" }
            s += "\n"
        }
        return s + "</svg></figure>\n"
    }

    /// The variance bridge as a waterfall: estimated, each cause as a step up or down, invoiced.
    static func waterfall(_ a: AccountReconciliation, index: Int) -> String {
        let steps = a.bridge.filter { !$0.amount.isZero }
        let width = 90, height = 240, left = 70
        // Running totals fix the vertical scale: from min(0, …) to the highest level reached.
        var level = a.estimated, levels = [ExactDecimal.zero, a.estimated, a.invoiced]
        for b in steps { level += b.amount; levels.append(level) }
        let lo = levels.min()!, hi = levels.max()!
        let span = hi - lo
        func y(_ v: ExactDecimal) -> ExactDecimal { ExactDecimal(height) - px(v - lo, of: span, height - 20) }
        let columns = steps.count + 2
        var s = "<figure id=\"bridge-\(index)\" class=\"waterfall\"><figcaption>Variance bridge: \(escape(a.provider)) \(escape(a.billingAccountId)) (\(escape(a.currency)))</figcaption>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + columns * width)\" height=\"\(height + 50)\" role=\"img\" aria-label=\"Variance bridge\">\n"
        func bar(_ k: Int, _ kind: String, _ label: String, from: ExactDecimal, to: ExactDecimal, amount: ExactDecimal, color: String) -> String {
            let top = y(max(from, to)), bottom = y(min(from, to))
            var h = bottom - top
            if h.isZero { h = 1 }
            let x = left + k * width + 8
            var t = "<rect class=\"step\" data-kind=\"\(kind)\" data-category=\"\(escape(label))\" data-amount=\"\(amount)\" x=\"\(x)\" y=\"\(top)\" width=\"\(width - 16)\" height=\"\(h)\" fill=\"\(color)\">"
            t += "<title>\(escape(label)): \(cents(amount))</title></rect>"
            t += "<text x=\"\(x)\" y=\"\(height + 16)\">\(escape(label))</text><text x=\"\(x)\" y=\"\(height + 32)\">\(cents(amount))</text>\n"
            return t
        }
        s += bar(0, "total", "estimated", from: .zero, to: a.estimated, amount: a.estimated, color: "#4269d0")
        level = a.estimated
        for (k, b) in steps.enumerated() {
            s += bar(k + 1, "cause", b.category, from: level, to: level + b.amount, amount: b.amount, color: b.amount.isNegative ? "#3ca951" : "#ff725c")
            level += b.amount
        }
        s += bar(columns - 1, "total", "invoiced", from: .zero, to: a.invoiced, amount: a.invoiced, color: "#4269d0")
        return s + "</svg></figure>\n"
    }
}
