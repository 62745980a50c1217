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


def other_providers():
    """OpenAI (usage page + invoice with a credit, an undiscounted batch line, two VAT rates),
    PromptLayer (plan change mid-month, request logs, no invoice yet: an accrual) and an Anthropic
    credit note correcting September (a Correction in October)."""
    rng = Rng(20261101)
    # ---- OpenAI: organization usage (completions), 1d buckets grouped by model, project, batch.
    org = "org-9Qb3AcmeOpenAI"
    models = [("gpt-4o-2024-08-06", "gpt-4o", "2.5", "1.25", "10", "1.25", "1.25", "5"),
              ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "0.15", "0.075", "0.6", "0.075", "0.075", "0.3")]
    buckets = []
    for d in range(1, 32):
        start = 1790812800 + (d - 1) * 86400
        results = []
        for mid, *_ in models:
            for batch in (False, True):
                if batch and not mid.startswith("gpt-4o-mini"):
                    continue
                inp = 200_000 + rng.next(1_800_000)
                cached = inp // 3 if not batch else 0
                results.append({"object": "organization.usage.completions.result", "input_tokens": inp,
                                "output_tokens": inp // 6 + rng.next(20_000), "input_cached_tokens": cached,
                                "num_model_requests": 50 + rng.next(400), "project_id": "proj_support" if d % 2 else "proj_search",
                                "user_id": None, "api_key_id": None, "model": mid, "batch": batch})
        buckets.append({"object": "bucket", "start_time": start, "end_time": start + 86400, "results": results})
    folder = ROOT / "usage" / "provider=openai" / f"billing_account={org}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "completions-2026-10.json").write_text(json.dumps({"object": "page", "data": buckets, "has_more": False, "next_page": None}, indent=1) + "\n")
    # Invoice lines: per model and meter; batch tokens of gpt-4o-mini are billed at the standard
    # price (the discount is missing: a price difference the reconciliation must show).
    lines = []
    for mid, canon, p_in, p_cached, p_out, b_in, b_cached, b_out in models:
        q = {"in": 0, "cached": 0, "out": 0}
        for b in buckets:
            for r in b["results"]:
                if r["model"] == mid:
                    q["in"] += r["input_tokens"] - r["input_cached_tokens"]
                    q["cached"] += r["input_cached_tokens"]
                    q["out"] += r["output_tokens"]
        for meter, key, price in (("tokens_input", "in", p_in), ("tokens_cache_read", "cached", p_cached), ("tokens_output", "out", p_out)):
            if q[key]:
                amount = (Decimal(q[key]) * Decimal(price) / Decimal(1_000_000)).quantize(Decimal("0.01"), ROUND_HALF_UP)
                lines.append((f"openai:{canon}:{meter}", f"{canon} {meter.replace('_', ' ')}", q[key], Decimal(price), amount, "20"))
    lines.append((None, "Priority support (zero-rated)", 1, Decimal("40"), Decimal("40.00"), "0"))
    credit = Decimal("25.00")
    std = sum(l[4] for l in lines if l[5] == "20") - credit
    zero = sum(l[4] for l in lines if l[5] == "0")
    vat = (std * Decimal("0.20")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    lineext = sum(l[4] for l in lines)
    taxexcl = lineext - credit
    total = taxexcl + vat
    payable_rounding = (total.quantize(Decimal("1"), ROUND_HALF_UP) - total)
    payable = total + payable_rounding
    xml = [f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Sample invoice written for Reckon's Samples/ (scripts/make_samples.py): OpenAI API usage, October 2026,
     with a promotional credit, a zero-rated line, whole-dollar payable rounding, and gpt-4o-mini batch
     tokens billed without the batch discount. -->
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
         xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
         xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:ID>OAI-2026-10-7781</cbc:ID>
  <cbc:IssueDate>2026-11-01</cbc:IssueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>USD</cbc:DocumentCurrencyCode>
  <cac:InvoicePeriod><cbc:StartDate>2026-10-01</cbc:StartDate><cbc:EndDate>2026-10-31</cbc:EndDate></cac:InvoicePeriod>
  <cac:AccountingSupplierParty><cac:Party><cac:PartyName><cbc:Name>OpenAI</cbc:Name></cac:PartyName></cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party><cac:PartyIdentification><cbc:ID>{org}</cbc:ID></cac:PartyIdentification>
    <cac:PartyLegalEntity><cbc:RegistrationName>Acme Analytics Ltd</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:AccountingCustomerParty>
  <cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator><cbc:AllowanceChargeReason>Promotional credit</cbc:AllowanceChargeReason>
    <cbc:Amount currencyID="USD">{credit}</cbc:Amount><cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>20</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:AllowanceCharge>
  <cac:TaxTotal><cbc:TaxAmount currencyID="USD">{vat}</cbc:TaxAmount>
    <cac:TaxSubtotal><cbc:TaxableAmount currencyID="USD">{std}</cbc:TaxableAmount><cbc:TaxAmount currencyID="USD">{vat}</cbc:TaxAmount>
      <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>20</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:TaxSubtotal>
    <cac:TaxSubtotal><cbc:TaxableAmount currencyID="USD">{zero}</cbc:TaxableAmount><cbc:TaxAmount currencyID="USD">0.00</cbc:TaxAmount>
      <cac:TaxCategory><cbc:ID>Z</cbc:ID><cbc:Percent>0</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:TaxSubtotal>
  </cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="USD">{lineext}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="USD">{taxexcl}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="USD">{total}</cbc:TaxInclusiveAmount>
    <cbc:AllowanceTotalAmount currencyID="USD">{credit}</cbc:AllowanceTotalAmount>
    <cbc:PayableRoundingAmount currencyID="USD">{payable_rounding}</cbc:PayableRoundingAmount>
    <cbc:PayableAmount currencyID="USD">{payable}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>"""]
    for n, (sku, name, qty, price, amount, pct) in enumerate(lines, 1):
        cat = "S" if pct == "20" else "Z"
        base = "1000000" if sku else "1"
        item = f"<cac:SellersItemIdentification><cbc:ID>{sku}</cbc:ID></cac:SellersItemIdentification>" if sku else ""
        xml.append(f"""  <cac:InvoiceLine><cbc:ID>{n}</cbc:ID><cbc:InvoicedQuantity unitCode="C62">{qty}</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="USD">{amount}</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>{name}</cbc:Name>{item}<cac:ClassifiedTaxCategory><cbc:ID>{cat}</cbc:ID><cbc:Percent>{pct}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="USD">{price.normalize():f}</cbc:PriceAmount><cbc:BaseQuantity unitCode="C62">{base}</cbc:BaseQuantity></cac:Price></cac:InvoiceLine>""")
    xml.append("</Invoice>\n")
    inv = ROOT / "invoices" / "provider=openai"
    inv.mkdir(parents=True, exist_ok=True)
    (inv / "OAI-2026-10-7781.xml").write_text("\n".join(xml))
    # ---- Anthropic credit note for September (issued in October): a Correction.
    cn = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Sample credit note written for Reckon's Samples/: Anthropic refunds September web searches billed twice. -->
<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
            xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
            xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:ID>ANT-CN-2026-10-0007</cbc:ID>
  <cbc:IssueDate>2026-10-14</cbc:IssueDate>
  <cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>
  <cbc:DocumentCurrencyCode>USD</cbc:DocumentCurrencyCode>
  <cac:InvoicePeriod><cbc:StartDate>2026-09-01</cbc:StartDate><cbc:EndDate>2026-09-30</cbc:EndDate></cac:InvoicePeriod>
  <cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>ANT-2026-09-0031</cbc:ID></cac:InvoiceDocumentReference></cac:BillingReference>
  <cac:AccountingSupplierParty><cac:Party><cac:PartyName><cbc:Name>Anthropic</cbc:Name></cac:PartyName></cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party><cac:PartyIdentification><cbc:ID>{ORG}</cbc:ID></cac:PartyIdentification>
    <cac:PartyLegalEntity><cbc:RegistrationName>Acme Analytics Ltd</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:AccountingCustomerParty>
  <cac:TaxTotal><cbc:TaxAmount currencyID="USD">2.00</cbc:TaxAmount>
    <cac:TaxSubtotal><cbc:TaxableAmount currencyID="USD">10.00</cbc:TaxableAmount><cbc:TaxAmount currencyID="USD">2.00</cbc:TaxAmount>
      <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>20</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:TaxSubtotal></cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="USD">10.00</cbc:LineExtensionAmount><cbc:TaxExclusiveAmount currencyID="USD">10.00</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="USD">12.00</cbc:TaxInclusiveAmount><cbc:PayableAmount currencyID="USD">12.00</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
  <cac:CreditNoteLine><cbc:ID>1</cbc:ID><cbc:CreditedQuantity unitCode="C62">1000</cbc:CreditedQuantity>
    <cbc:LineExtensionAmount currencyID="USD">10.00</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>Web search requests billed twice in September</cbc:Name>
      <cac:SellersItemIdentification><cbc:ID>anthropic:claude-sonnet-4-5:web_search_requests</cbc:ID></cac:SellersItemIdentification>
      <cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>20</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="USD">10</cbc:PriceAmount><cbc:BaseQuantity unitCode="C62">1000</cbc:BaseQuantity></cac:Price></cac:CreditNoteLine>
</CreditNote>
"""
    (ROOT / "invoices" / "provider=anthropic" / "ANT-CN-2026-10-0007.xml").write_text(cn)
    # ---- PromptLayer: Pro, then Team from the 16th; request logs; the invoice has not arrived.
    (ROOT / "plans.csv").write_text("# Which plan each SaaS account is on, from when (README: plans.csv).\n"
                                    "provider,billing_account,plan,seats,effective_from\n"
                                    "promptlayer,cus_Acme42,pro,1,2026-10-01\npromptlayer,cus_Acme42,team,12,2026-10-16\n")
    folder = ROOT / "usage" / "provider=promptlayer" / "billing_account=cus_Acme42"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "requests-2026-10.jsonl", "w") as f:
        for i in range(3000):
            day = 1 + i % 15 if i < 2000 else 16 + i % 16
            team, feature = (["support", "search"][i % 2], ["draft-reply", "faq", "rerank"][i % 3])
            f.write(json.dumps({"id": f"pl_{i:05d}", "request_start_time": f"2026-10-{day:02d}T{8 + i % 10:02d}:{i % 60:02d}:00Z",
                                "provider_type": "openai", "engine": "gpt-4o-mini", "workspace_id": 812, "prompt_name": feature,
                                "metadata": {"team": team, "feature": feature}, "tags": [], "status": "success"}) + "\n")
    write_storage_readings(folder)
    print(f"openai lines={len(lines)} lineext={lineext} vat={vat} total={total} rounding={payable_rounding} payable={payable}")


def write_storage_readings(folder):
    """Daily dataset-storage readings (MB) for the PromptLayer account: a level, priced on the month's
    peak per plan. Pro (to the 15th) peaks above its 150 MB cap; Team (from the 16th) stays under 1 GB."""
    with open(folder / "datasets-2026-10.csv", "w") as f:
        f.write("timestamp,model,dataset_storage_mb\n")
        for day in range(1, 32):
            mb = 60 + 9 * day if day <= 15 else 190 + 7 * (day - 15)
            f.write(f"2026-10-{day:02d}T23:00:00Z,datasets,{mb}.5\n")


if __name__ == "__main__":
    main()
    other_providers()
