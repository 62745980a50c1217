import ReckonCore

/// Turns LiteLLM's `model_prices_and_context_window.json` into a Reckon rate card.
///
/// LiteLLM's table has no dates, so every imported price gets the `effective_from` the caller
/// gives. Its prices are USD per token written as JSON numbers (`3e-06`); they are read as exact
/// decimals and scaled to USD per 1,000,000 tokens (so `3e-06` becomes exactly `3`).
///
/// Mapping (only keys that exist are imported; nothing is inferred — a missing batch price stays
/// missing, and that usage is then unpriced, never priced at a guess):
///
/// | LiteLLM key | meter |
/// |---|---|
/// | `input_cost_per_token` | `tokens_input` |
/// | `output_cost_per_token` | `tokens_output` |
/// | `cache_read_input_token_cost` | `tokens_cache_read` |
/// | `cache_creation_input_token_cost` | `tokens_cache_write_5m` |
/// | `cache_creation_input_token_cost_above_1hr` | `tokens_cache_write_1h` |
/// | `search_context_cost_per_query.search_context_size_medium` | `web_search_requests` (per 1,000) |
///
/// Suffixes: `_batches` → tier `batch`, `_flex` → `flex`, `_priority` → `priority`;
/// `_above_200k_tokens` (any `_above_<N>k_tokens`) → prompt tier `>N000` (LiteLLM's rule is "above").
/// Providers: `anthropic`, `openai`, `gemini` (→ `google`, the `gemini/` key prefix dropped); chat models only.
public enum LiteLLMImport {
    static let meters: [(key: String, meter: String)] = [
        ("input_cost_per_token", "tokens_input"),
        ("output_cost_per_token", "tokens_output"),
        ("cache_read_input_token_cost", "tokens_cache_read"),
        ("cache_creation_input_token_cost_above_1hr", "tokens_cache_write_1h"),
        ("cache_creation_input_token_cost", "tokens_cache_write_5m"),
    ]
    static let providers = ["anthropic": "anthropic", "openai": "openai", "gemini": "google"]

    /// The rate card text, and the models skipped with why.
    public static func convert(_ doc: JSONValue, effectiveFrom: CivilDate, checkedOn: CivilDate) -> (card: String, rows: Int) {
        var lines = [
            "# Imported from LiteLLM's model_prices_and_context_window.json (MIT) by reckon-transform import-litellm.",
            "# LiteLLM has no dates: every price here is stamped effective_from \(effectiveFrom). Check against the providers' pages.",
            RateCard.header.joined(separator: ","),
        ]
        guard case .object(let models) = doc else { return (lines.joined(separator: "\n") + "\n", 0) }
        var rows = 0
        var seen: [String: String] = [:]
        var skipped: [String] = []
        for (key, entry) in models.sorted(by: { $0.key < $1.key }) {
            guard let lp = entry["litellm_provider"]?.string, let provider = providers[lp],
                  entry["mode"]?.string == "chat" else { continue }
            let model = key.hasPrefix("gemini/") ? String(key.dropFirst("gemini/".count)) : key
            guard !model.contains("/") else { continue }
            // `gemini/x` and `x` can both name one model: the first key (in sorted order) wins.
            if let first = seen[provider + "|" + model] {
                skipped.append("# skipped \(key): same model as \(first)")
                continue
            }
            seen[provider + "|" + model] = key
            let source = entry["source"]?.string ?? "https://github.com/BerriAI/litellm model_prices_and_context_window.json"
            guard case .object(let fields) = entry else { continue }
            var out: [(meter: String, tier: String, prompt: String, price: ExactDecimal)] = []
            for (field, value) in fields {
                guard let perToken = value.decimal else { continue }
                for (base, meter) in meters where field.hasPrefix(base) {
                    var rest = String(field.dropFirst(base.count))
                    if base == "cache_creation_input_token_cost" && rest.hasPrefix("_above_1hr") { break }
                    var prompt = ""
                    if rest.hasPrefix("_above_"), let k = rest.firstRange(of: "k_tokens") {
                        let n = rest[rest.index(rest.startIndex, offsetBy: 7)..<k.lowerBound]
                        guard let thousands = Int(n) else { break }
                        prompt = ">\(thousands * 1000)"
                        rest = String(rest[k.upperBound...])
                    }
                    let tier: String
                    switch rest {
                    case "": tier = "standard"
                    case "_batches": tier = "batch"
                    case "_flex": tier = "flex"
                    case "_priority": tier = "priority"
                    default: tier = ""
                    }
                    if !tier.isEmpty { out.append((meter, tier, prompt, perToken * 1_000_000)) }
                    break
                }
            }
            if let search = entry["search_context_cost_per_query"]?["search_context_size_medium"]?.decimal {
                out.append(("web_search_requests", "standard", "", search * 1000))
            }
            out.sort { ($0.tier, $0.prompt, $0.meter) < ($1.tier, $1.prompt, $1.meter) }
            for r in out {
                let unit = r.meter == "web_search_requests" ? "1000 Requests" : "1000000 Tokens"
                lines.append([provider, model, "", r.meter, r.tier, r.prompt, unit, r.price.description, "USD",
                              effectiveFrom.description, "", source.replacingOccurrences(of: ",", with: " "), checkedOn.description, ""]
                    .joined(separator: ","))
                rows += 1
            }
        }
        return ((lines + skipped).joined(separator: "\n") + "\n", rows)
    }
}

extension String {
    func replacingOccurrences(of a: String, with b: String) -> String {
        split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b)
    }
}
