#!/usr/bin/env python3
"""The diff benchmark's input and DuckDB side.

  bench_diff.py generate N DIR   writes DIR/before.csv and DIR/after.csv: N estimated FOCUS rows
                                 each (Reckon's 49 columns), seeded; `after` differs in 1% of rows
                                 (0.5% with a changed cost, 0.25% removed, 0.25% added)
  bench_diff.py duckdb A B OUT   DuckDB's keyed full outer join of A and B on the row key, every other
                                 column compared as text (exact; no float typing), differing rows to
                                 OUT; prints "duckdb SECONDS PEAK_MB" and the counts on stderr
"""
import csv
import random
import resource
import sys
import time

HEADER = ("BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,"
          "ChargeClass,ChargeDescription,ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,CommitmentDiscountStatus,"
          "ConsumedQuantity,ConsumedUnit,ContractedCost,ContractedUnitPrice,EffectiveCost,HostProviderName,InvoiceId,"
          "InvoiceIssuerName,ListCost,ListUnitPrice,PricingCategory,PricingCurrency,PricingCurrencyContractedUnitPrice,"
          "PricingCurrencyEffectiveCost,PricingCurrencyListUnitPrice,PricingQuantity,PricingUnit,ProviderName,PublisherName,"
          "ServiceCategory,ServiceName,ServiceProviderName,ServiceSubcategory,SkuId,SkuMeter,SkuPriceDetails,SkuPriceId,"
          "SubAccountId,SubAccountName,Tags,x_ChargeSubType,x_InvoiceLineId,x_Model,x_PriceSource,x_RateCardVersion,"
          "x_ServiceTier").split(",")
KEY = ["ChargePeriodStart", "BillingAccountId", "SubAccountId", "SkuPriceId", "x_Model", "Tags"]
MODELS = [("anthropic", "claude-sonnet-4-5", "3"), ("anthropic", "claude-haiku-4-5", "1"), ("openai", "gpt-4o", "2.5"),
          ("openai", "gpt-4o-mini", "0.15"), ("google", "gemini-2.5-pro", "1.25"), ("google", "gemini-2.5-flash", "0.3")]
METERS = [("tokens_input", "Input Tokens"), ("tokens_output", "Output Tokens"), ("tokens_cache_read", "Cache Read Tokens")]


def row(n, rng, bump=0):
    provider, model, price = MODELS[n % len(MODELS)]
    meter, meter_name = METERS[(n // len(MODELS)) % len(METERS)]
    day = 1 + (n // 18) % 31
    account = f"acct-{(n // 558) % 3}"
    sub = f"ws-{(n // 1674) % 20:02d}"
    team = ["search", "support", "agents", "billing", "growth"][(n // 33480) % 5]
    feature = f"f{(n // 167400) % 7}"
    tokens = rng.randint(1_000, 50_000_000) + bump
    qty = f"{tokens}.0"
    pq = f"{tokens / 1e6:.6f}".rstrip("0")
    cost = f"{int(tokens) * float(price) / 1e6:.10f}".rstrip("0")
    start = f"2026-10-{day:02d}T00:00:00Z"
    end = f"2026-10-{day + 1:02d}T00:00:00Z" if day < 31 else "2026-11-01T00:00:00Z"
    sku = f"{provider}:{model}:{meter}"
    vals = {
        "BilledCost": cost, "BillingAccountId": account, "BillingAccountName": f"Account {account}", "BillingCurrency": "USD",
        "BillingPeriodEnd": "2026-11-01T00:00:00Z", "BillingPeriodStart": "2026-10-01T00:00:00Z", "ChargeCategory": "Usage",
        "ChargeDescription": f"{model} {meter_name}", "ChargeFrequency": "Usage-Based", "ChargePeriodEnd": end,
        "ChargePeriodStart": start, "ConsumedQuantity": qty, "ConsumedUnit": "Tokens", "ContractedCost": cost,
        "ContractedUnitPrice": price, "EffectiveCost": cost, "HostProviderName": provider.title(),
        "InvoiceIssuerName": provider.title(), "ListCost": cost, "ListUnitPrice": price, "PricingCategory": "Standard",
        "PricingCurrency": "USD", "PricingCurrencyContractedUnitPrice": price, "PricingCurrencyEffectiveCost": cost,
        "PricingCurrencyListUnitPrice": price, "PricingQuantity": pq, "PricingUnit": "1000000 Tokens",
        "ProviderName": provider.title(), "PublisherName": provider.title(), "ServiceCategory": "AI and Machine Learning",
        "ServiceName": f"{provider.title()} API", "ServiceProviderName": provider.title(), "ServiceSubcategory": "Generative AI",
        "SkuId": sku, "SkuMeter": meter_name, "SkuPriceDetails": '{"x_ServiceTier":"standard"}',
        "SkuPriceId": f"{sku}:standard:2025-01-01", "SubAccountId": sub, "SubAccountName": f"Workspace {sub}",
        "Tags": f'{{"feature":"{feature}","team":"{team}","n":"{n // 9999}"}}', "x_Model": f"{model}-2025{n % 4}",
        "x_PriceSource": f"https://{provider}.example/pricing", "x_RateCardVersion": "8da1fdb8d0399873",
        "x_ServiceTier": "standard",
    }
    return [vals.get(c, "") for c in HEADER]


def generate(n, folder):
    rng = random.Random(20261123)
    with open(f"{folder}/before.csv", "w", newline="") as fa, open(f"{folder}/after.csv", "w", newline="") as fb:
        a, b = csv.writer(fa, lineterminator="\n"), csv.writer(fb, lineterminator="\n")
        a.writerow(HEADER)
        b.writerow(HEADER)
        for k in range(n):
            state = rng.getstate()
            r = row(k, rng)
            fate = rng.random()
            if fate < 0.0025:          # removed
                a.writerow(r)
            elif fate < 0.005:         # added (a row only in after)
                b.writerow(row(n + k, rng))
                a.writerow(r)
                b.writerow(r)
            elif fate < 0.01:          # changed quantity and cost
                a.writerow(r)
                rng.setstate(state)
                b.writerow(row(k, rng, bump=1))
            else:
                a.writerow(r)
                b.writerow(r)


def duckdb_diff(a, b, out):
    import duckdb
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    for name, path in (("a", a), ("b", b)):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv('{path}', header=true, all_varchar=true)")
    others = [c for c in HEADER if c not in KEY]
    on = " AND ".join(f'a."{k}" IS NOT DISTINCT FROM b."{k}"' for k in KEY)
    differs = " OR ".join(f'a."{c}" IS DISTINCT FROM b."{c}"' for c in others)
    cols = ", ".join(f'COALESCE(a."{k}", b."{k}") AS "{k}"' for k in KEY)
    con.execute(f"""
        COPY (
          SELECT {cols},
                 CASE WHEN a."{KEY[0]}" IS NULL THEN 'added' WHEN b."{KEY[0]}" IS NULL THEN 'removed' ELSE 'changed' END AS status,
                 a."BilledCost" AS before_cost, b."BilledCost" AS after_cost
          FROM a FULL OUTER JOIN b ON {on}
          WHERE a."{KEY[0]}" IS NULL OR b."{KEY[0]}" IS NULL OR {differs}
        ) TO '{out}' (HEADER)""")
    wall = time.perf_counter() - t0
    counts = con.execute(f"SELECT status, count(*) FROM read_csv('{out}', header=true, all_varchar=true) GROUP BY 1 ORDER BY 1").fetchall()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"duckdb {wall:.3f} {peak:.1f}")
    print("duckdb counts: " + ", ".join(f"{s} {c}" for s, c in counts), file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "duckdb":
        duckdb_diff(*sys.argv[2:5])
    else:
        sys.exit(__doc__)
