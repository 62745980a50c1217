#!/usr/bin/env python3
"""The DuckDB side of `make bench-e2e`, and the row-for-row comparison with Reckon's output.

  bench_duckdb.py run RATECARD_DIR USAGE_CSV OUT_CSV
      Prices generic usage records in SQL the way an analyst would with DuckDB's best plan: sum each
      token column per group first, then unpivot the meters and multiply by the card price (batch price
      for batch records), all in DECIMAL(38,12). Groups: UTC day x billing account x sub-account x
      provider x model x meter x batch x team x feature x env. Prints wall seconds and peak RSS.
      The day is the timestamp's first ten characters: right for the generated records, which are all
      UTC ("...Z"), and 0.2-0.6 s faster than parsing a TIMESTAMPTZ (session 10) -- a shortcut Reckon
      cannot take, since a real export may carry offsets.

  bench_duckdb.py compare RECKON_ESTIMATED_JSONL DUCKDB_CSV
      Sums Reckon's estimated FOCUS rows by the same keys and checks both sides agree exactly
      (quantity and cost as decimals). Exit 0 when every group agrees, 1 otherwise.

Only the benchmark uses DuckDB; Reckon itself never depends on it. Rate cards are read here with the
same rules Reckon documents (aliases, service tier, effective dates; prompt tiers unused because the
generated prompts stay under 200k tokens).
"""
import csv
import json
import os
import resource
import sys
import time
from decimal import Decimal

METERS = [("input_tokens", "tokens_input"), ("output_tokens", "tokens_output"),
          ("cache_read_tokens", "tokens_cache_read"), ("cache_write_5m_tokens", "tokens_cache_write_5m"),
          ("cache_write_1h_tokens", "tokens_cache_write_1h"), ("web_search_requests", "web_search_requests")]
MONTH_START, MONTH_END = "2026-10-01", "2026-11-01"


def price_rows(card_dir):
    """(provider, name as exported, canonical model, meter, tier, price per single unit) for prices in force
    for the whole benchmark month, without prompt tier."""
    prices, aliases = {}, {}
    for name in sorted(os.listdir(card_dir)):
        if not name.endswith(".csv"):
            continue
        with open(os.path.join(card_dir, name), newline="") as f:
            for r in csv.DictReader(line for line in f if not line.startswith("#")):
                known = aliases.setdefault((r["provider"], r["model"]), {r["model"]})
                known.update(a for a in r["aliases"].split("|") if a)  # aliases are stated once per model
                if r["prompt_tier"] or r["effective_from"] > MONTH_START:
                    continue
                if r["effective_to"] and r["effective_to"] < MONTH_END:
                    continue
                per = Decimal(r["unit"].split(" ")[0]) if r["unit"][0].isdigit() else Decimal(1)
                prices[(r["provider"], r["model"], r["meter"], r["service_tier"])] = Decimal(r["unit_price"]) / per
    return [(p, alias, m, meter, tier, str(price))
            for (p, m, meter, tier), price in sorted(prices.items()) for alias in sorted(aliases[(p, m)])]


def run(card_dir, usage_csv, out_csv):
    import duckdb
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = %d" % os.cpu_count())
    con.execute("CREATE TABLE card (provider VARCHAR, alias VARCHAR, model VARCHAR, meter VARCHAR, tier VARCHAR,"
                " price DECIMAL(38,12))")
    con.executemany("INSERT INTO card VALUES (?, ?, ?, ?, ?, ?)", price_rows(card_dir))
    sums = ",\n".join(f"sum({c})::DECIMAL(38,0) AS {m}" for c, m in METERS)
    unpivot = " UNION ALL ".join(
        f"SELECT day, billing_account, sub_account, provider, model, batch, team, feature, env, '{m}' AS meter,"
        f" {m} AS quantity FROM g WHERE {m} > 0" for _, m in METERS)
    con.execute(f"""
        COPY (
          WITH g AS (
            SELECT CAST(left(timestamp, 10) AS DATE) AS day, billing_account, sub_account, provider, model, batch,
                   coalesce("tag.team", '') AS team, coalesce("tag.feature", '') AS feature,
                   coalesce("tag.env", '') AS env,
                   {sums}
            FROM read_csv('{usage_csv}', header = true, columns = {{
              'timestamp': 'VARCHAR', 'provider': 'VARCHAR', 'billing_account': 'VARCHAR',
              'sub_account': 'VARCHAR', 'model': 'VARCHAR', 'input_tokens': 'BIGINT', 'output_tokens': 'BIGINT',
              'cache_read_tokens': 'BIGINT', 'cache_write_5m_tokens': 'BIGINT', 'cache_write_1h_tokens': 'BIGINT',
              'web_search_requests': 'BIGINT', 'batch': 'BOOLEAN', 'request_id': 'VARCHAR',
              'tag.team': 'VARCHAR', 'tag.feature': 'VARCHAR', 'tag.env': 'VARCHAR'}})
            GROUP BY ALL
          ), u AS ({unpivot})
          SELECT u.day, u.billing_account, u.sub_account, u.provider, c.model, u.meter, u.batch,
                 u.team, u.feature, u.env, sum(u.quantity) AS quantity,
                 sum(u.quantity * c.price)::DECIMAL(38,12) AS cost
          FROM u JOIN card c ON c.provider = u.provider AND c.alias = u.model AND c.meter = u.meter
                            AND c.tier = CASE WHEN u.batch THEN 'batch' ELSE 'standard' END
          GROUP BY ALL ORDER BY ALL
        ) TO '{out_csv}' (HEADER)""")
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"duckdb {wall:.3f} {peak:.1f}")


def norm(d):
    d = Decimal(d).normalize()
    return d if d != 0 else Decimal(0)


def reckon_rows(path):
    """Reckon's FOCUS rows from its staged CSV (or JSONL), decimals as text."""
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                r["Tags"] = json.loads(r["Tags"]) if r["Tags"] else {}
                yield r
    else:
        with open(path) as f:
            for line in f:
                yield json.loads(line, parse_float=Decimal)


def compare(reckon_rows_path, duck_csv):
    ours = {}
    for r in reckon_rows(reckon_rows_path):
            if r["ChargeCategory"] != "Usage":
                continue
            provider, model, meter = r["SkuId"].split(":")  # the card's model; x_Model keeps the exported name
            tags = r.get("Tags") or {}
            key = (r["ChargePeriodStart"][:10], r["BillingAccountId"], r["SubAccountId"], provider, model,
                   meter, r["x_ServiceTier"] == "batch", tags.get("team", ""), tags.get("feature", ""),
                   tags.get("env", ""))
            q, c = ours.get(key, (Decimal(0), Decimal(0)))
            ours[key] = (q + Decimal(r["ConsumedQuantity"]), c + Decimal(r["BilledCost"]))
    theirs = {}
    with open(duck_csv, newline="") as f:
        for r in csv.DictReader(f):
            key = (r["day"], r["billing_account"], r["sub_account"], r["provider"], r["model"], r["meter"],
                   r["batch"] == "true", r["team"], r["feature"], r["env"])
            theirs[key] = (Decimal(r["quantity"]), Decimal(r["cost"]))
    bad = 0
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if a is None or b is None or norm(a[0]) != norm(b[0]) or norm(a[1]) != norm(b[1]):
            bad += 1
            if bad <= 5:
                print(f"  differs: {key}: reckon={a} duckdb={b}", file=sys.stderr)
    print(f"compare: {len(ours)} Reckon groups, {len(theirs)} DuckDB groups, {bad} differ")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(*sys.argv[2:5])
    elif sys.argv[1] == "compare":
        sys.exit(compare(*sys.argv[2:4]))
    else:
        sys.exit(f"usage: {sys.argv[0]} run|compare ...")
