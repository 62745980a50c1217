import ReckonCore

/// Which SKU an invoice line bills when its seller item id is not a Reckon SkuId: the optional
/// `invoice_lines.csv` (`provider,match,sku_id`). `match` is a case-insensitive pattern on the
/// line's item name, else its description, where `*` stands for any run of characters
/// (`Claude Sonnet 4.5 * input*`). Rows are tried in file order; the first match wins. A line
/// that no row matches keeps its own SkuId (`<provider>:invoice-line:<name>`) and is reconciled
/// as `unmatched_invoice_line`.
public struct InvoiceLinePatterns: Sendable {
    struct Rule: Sendable {
        var provider: String
        var parts: [[Character]]   // the pattern split at `*`, lowercased
        var skuId: String
    }

    var rules: [Rule] = []

    public init() {}

    public var isEmpty: Bool { rules.isEmpty }

    public static func load(path: String) throws -> InvoiceLinePatterns {
        var result = InvoiceLinePatterns()
        for (line, f) in try ConfigFile.rows(path, header: ["provider", "match", "sku_id"]) {
            let at = SourcePosition(file: path, line: line)
            let (p, m, sku) = (f[0], f[1], f[2])
            guard !p.isEmpty, !m.isEmpty else { throw ReckonError(.badData, "expected provider,match,sku_id", at: at) }
            guard SkuReference(sku) != nil, sku.hasPrefix(p.lowercased() + ":") else {
                throw ReckonError(.badData, "sku_id must be <provider>:<model>:<meter> of provider \(p), not \"\(sku)\"", at: at)
            }
            let parts = m.lowercased().split(separator: "*", omittingEmptySubsequences: false).map { Array($0) }
            result.rules.append(Rule(provider: p.lowercased(), parts: parts, skuId: sku))
        }
        return result
    }

    /// The SkuId for a line of `provider` named `name` (or described `description`), if a rule matches.
    public func skuId(provider: String, name: String?, description: String?) -> String? {
        for rule in rules where rule.provider == provider {
            for text in [name, description].compactMap({ $0 }) where Self.matches(Array(text.lowercased()), rule.parts) {
                return rule.skuId
            }
        }
        return nil
    }

    /// Glob match with `*` only: the first part is a prefix, the last a suffix, the others appear
    /// in order between. O(text × parts).
    static func matches(_ text: [Character], _ parts: [[Character]]) -> Bool {
        if parts.count == 1 { return text == parts[0] }
        guard text.count >= parts.reduce(0, { $0 + $1.count }), text.starts(with: parts[0]),
              text.reversed().starts(with: parts[parts.count - 1].reversed()) else { return false }
        var i = parts[0].count
        let end = text.count - parts[parts.count - 1].count
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            var found = false
            while i + part.count <= end {
                if Array(text[i..<(i + part.count)]) == part { i += part.count; found = true; break }
                i += 1
            }
            if !found { return false }
        }
        return i <= end
    }
}
