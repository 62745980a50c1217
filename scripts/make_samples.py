#!/usr/bin/env python3
"""Builds Samples/ (one organisation's October 2026 on the Anthropic API) deterministically.

Writes the Admin API usage report pages, and the UBL 2.1 invoice for the month computed from them
with Python's decimal module (an independent check of Reckon's arithmetic: per line
round2(tokens x price / 1e6) half-up, VAT 20% on the sum, rounded half-up).
Run from the repository root: python3 scripts/make_samples.py
"""
import json
from decimal import Decimal, ROUND_HALF_UP
from pathlib import Path

ORG = "org_01JX8ACME4Q2"
ROOT = Path("Samples")
USAGE = ROOT / "usage" / "provider=anthropic" / f"billing_account={ORG}"

# (model id as reported, canonical, display, prices per MTok: input, output, 5m write, 1h write, read)
MODELS = [
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "Claude Sonnet 4.5", "3", "15", "3.75", "6", "0.30"),
    ("claude-haiku-4-5-20251001", "claude-haiku-4-5", "Claude Haiku 4.5", "1", "5", "1.25", "2", "0.10"),
    ("claude-opus-4-5-20251101", "claude-opus-4-5", "Claude Opus 4.5", "5", "25", "6.25", "10", "0.50"),
]
WORKSPACES = ["wrkspc_01PROD7K2M", "wrkspc_01RSRCH9QX", None]


class Rng:
    """A small linear congruential generator: the same numbers on every machine."""
    def __init__(self, seed):
        self.s = seed

    def next(self, n):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (self.s >> 33) % n


def results_for_day(rng, day):
    out = []
    weekend = (day + 3) % 7 in (5, 6)  # 2026-10-01 is a Thursday
    for ws in WORKSPACES:
        for (mid, _, _, *_p) in MODELS:
            if ws is None and not mid.startswith("claude-haiku"):
                continue
            if mid.startswith("claude-opus") and ws != "wrkspc_01RSRCH9QX":
                continue
            tiers = ["standard", "batch"] if (mid.startswith("claude-haiku") and ws == "wrkspc_01PROD7K2M") else ["standard"]
            for tier in tiers:
                scale = 1 if not weekend else 3
                base = (400_000 + rng.next(2_600_000)) // scale
                if mid.startswith("claude-opus"):
                    base //= 4
                r = {
                    "uncached_input_tokens": base,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": 0 if tier == "batch" else base // 7 + rng.next(5000),
                        "ephemeral_1h_input_tokens": (base // 40 + rng.next(2000)) if ws == "wrkspc_01PROD7K2M" and tier == "standard" else 0,
                    },
                    "cache_read_input_tokens": 0 if tier == "batch" else base * 3 + rng.next(100_000),
                    "output_tokens": base // 5 + rng.next(50_000),
                    "server_tool_use": {"web_search_requests": rng.next(40) if (ws == "wrkspc_01RSRCH9QX" and tier == "standard") else 0},
                    "model": mid,
                    "workspace_id": ws,
                    "api_key_id": None,
                    "service_tier": tier,
                    "context_window": "0-200k",
                }
                out.append(r)
    return out


def main():
    rng = Rng(20261001)
    days = list(range(1, 32))
    buckets = []
    for d in days:
        buckets.append({
            "starting_at": f"2026-10-{d:02d}T00:00:00Z",
            "ending_at": (f"2026-10-{d + 1:02d}T00:00:00Z" if d < 31 else "2026-11-01T00:00:00Z"),
            "results": results_for_day(rng, d),
        })
    USAGE.mkdir(parents=True, exist_ok=True)
    pages = [(buckets[:16], True, "page_MjAyNi0xMC0xN1QwMDowMDowMFo="), (buckets[16:], False, None)]
    for i, (data, more, nxt) in enumerate(pages, 1):
        doc = {"data": data, "has_more": more, "next_page": nxt}
        (USAGE / f"messages-2026-10-page-{i}.json").write_text(json.dumps(doc, indent=2) + "\n")

    # Totals per (model, meter, tier) for the invoice.
    meters = [("tokens_input", "Input tokens", lambda r: r["uncached_input_tokens"], 3),
              ("tokens_cache_write_5m", "Prompt cache write tokens (5 minutes)", lambda r: r["cache_creation"]["ephemeral_5m_input_tokens"], 5),
              ("tokens_cache_write_1h", "Prompt cache write tokens (1 hour)", lambda r: r["cache_creation"]["ephemeral_1h_input_tokens"], 6),
              ("tokens_cache_read", "Prompt cache read tokens", lambda r: r["cache_read_input_tokens"], 7),
              ("tokens_output", "Output tokens", lambda r: r["output_tokens"], 4)]
    lines = []
    for (mid, canon, display, p_in, p_out, p_5m, p_1h, p_read) in MODELS:
        price = {"tokens_input": p_in, "tokens_output": p_out, "tokens_cache_write_5m": p_5m,
                 "tokens_cache_write_1h": p_1h, "tokens_cache_read": p_read}
        for tier in ["standard", "batch"]:
            for meter, label, get, _ in meters:
                qty = sum(get(r) for b in buckets for r in b["results"] if r["model"] == mid and r["service_tier"] == tier)
                if qty == 0:
                    continue
                p = Decimal(price[meter]) * (Decimal("0.5") if tier == "batch" else 1)
                amount = (Decimal(qty) * p / Decimal(1_000_000)).quantize(Decimal("0.01"), ROUND_HALF_UP)
                name = f"{display} {label}" + (" (Batch API)" if tier == "batch" else "")
                lines.append((f"anthropic:{canon}:{meter}", name, qty, p, amount))
    searches = sum(r["server_tool_use"]["web_search_requests"] for b in buckets for r in b["results"])
    if searches:
        amount = (Decimal(searches) * Decimal(10) / Decimal(1000)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        lines.append(("anthropic:claude-sonnet-4-5:web_search_requests", "Web search requests", searches, Decimal(10), amount))
    # Web search is billed per model in Reckon's SKU scheme; the sample's searches all ran on Sonnet and Opus
    # in the research workspace, so the invoice shows them as one line (a realistic mismatch for later issues).
    net = sum(l[4] for l in lines)
    vat = (net * Decimal("0.20")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    total = net + vat

    def money(d):
        return f"{d:.2f}"

    xml_lines = []
    for i, (sku, name, qty, price, amount) in enumerate(lines, 1):
        base = "1000" if sku.endswith("web_search_requests") else "1000000"
        xml_lines.append(f"""  <cac:InvoiceLine>
    <cbc:ID>{i}</cbc:ID>
    <cbc:InvoicedQuantity unitCode="C62">{qty}</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="USD">{money(amount)}</cbc:LineExtensionAmount>
    <cac:InvoicePeriod>
      <cbc:StartDate>2026-10-01</cbc:StartDate>
      <cbc:EndDate>2026-10-31</cbc:EndDate>
    </cac:InvoicePeriod>
    <cac:Item>
      <cbc:Name>{name}</cbc:Name>
      <cac:SellersItemIdentification>
        <cbc:ID>{sku}</cbc:ID>
      </cac:SellersItemIdentification>
      <cac:ClassifiedTaxCategory>
        <cbc:ID>S</cbc:ID>
        <cbc:Percent>20</cbc:Percent>
        <cac:TaxScheme>
          <cbc:ID>VAT</cbc:ID>
        </cac:TaxScheme>
      </cac:ClassifiedTaxCategory>
    </cac:Item>
    <cac:Price>
      <cbc:PriceAmount currencyID="USD">{price.normalize():f}</cbc:PriceAmount>
      <cbc:BaseQuantity unitCode="C62">{base}</cbc:BaseQuantity>
    </cac:Price>
  </cac:InvoiceLine>""")
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Sample invoice written for Reckon's Samples/: Anthropic API usage of one organisation, October 2026.
     Built by scripts/make_samples.py from the usage report pages beside it (line = round2(tokens x price / 1e6)). -->
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
         xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
         xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>
  <cbc:ID>ANT-2026-10-0042</cbc:ID>
  <cbc:IssueDate>2026-11-03</cbc:IssueDate>
  <cbc:DueDate>2026-12-03</cbc:DueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>USD</cbc:DocumentCurrencyCode>
  <cbc:BuyerReference>{ORG}</cbc:BuyerReference>
  <cac:InvoicePeriod>
    <cbc:StartDate>2026-10-01</cbc:StartDate>
    <cbc:EndDate>2026-10-31</cbc:EndDate>
  </cac:InvoicePeriod>
  <cac:AccountingSupplierParty>
    <cac:Party>
      <cac:PartyName>
        <cbc:Name>Anthropic</cbc:Name>
      </cac:PartyName>
      <cac:PartyLegalEntity>
        <cbc:RegistrationName>Anthropic</cbc:RegistrationName>
      </cac:PartyLegalEntity>
    </cac:Party>
  </cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty>
    <cac:Party>
      <cac:PartyIdentification>
        <cbc:ID>{ORG}</cbc:ID>
      </cac:PartyIdentification>
      <cac:PartyLegalEntity>
        <cbc:RegistrationName>Acme Analytics Ltd</cbc:RegistrationName>
      </cac:PartyLegalEntity>
    </cac:Party>
  </cac:AccountingCustomerParty>
  <cac:TaxTotal>
    <cbc:TaxAmount currencyID="USD">{money(vat)}</cbc:TaxAmount>
    <cac:TaxSubtotal>
      <cbc:TaxableAmount currencyID="USD">{money(net)}</cbc:TaxableAmount>
      <cbc:TaxAmount currencyID="USD">{money(vat)}</cbc:TaxAmount>
      <cac:TaxCategory>
        <cbc:ID>S</cbc:ID>
        <cbc:Percent>20</cbc:Percent>
        <cac:TaxScheme>
          <cbc:ID>VAT</cbc:ID>
        </cac:TaxScheme>
      </cac:TaxCategory>
    </cac:TaxSubtotal>
  </cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="USD">{money(net)}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="USD">{money(net)}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="USD">{money(total)}</cbc:TaxInclusiveAmount>
    <cbc:PayableAmount currencyID="USD">{money(total)}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
{chr(10).join(xml_lines)}
</Invoice>
"""
    inv = ROOT / "invoices" / "provider=anthropic"
    inv.mkdir(parents=True, exist_ok=True)
    (inv / "ANT-2026-10-0042.xml").write_text(xml)

    # The exact estimate, for the README and the tests.
    est = Decimal(0)
    for b in buckets:
        for r in b["results"]:
            m = next(m for m in MODELS if m[0] == r["model"])
            f = Decimal("0.5") if r["service_tier"] == "batch" else 1
            for meter, _, get, k in meters:
                est += Decimal(get(r)) * Decimal(m[k]) * f / Decimal(1_000_000)
            est += Decimal(r["server_tool_use"]["web_search_requests"]) * Decimal(10) / Decimal(1000)
    print(f"records={sum(len(b['results']) for b in buckets)} lines={len(lines)} net={net} vat={vat} total={total} estimate={est.normalize():f}")


if __name__ == "__main__":
    main()
