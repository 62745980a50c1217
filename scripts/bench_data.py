#!/usr/bin/env python3
"""Generates N records of the Reckon generic usage format as CSV, JSONL and gzipped CSV (seeded,
reproducible): three providers, 12 models, 3 billing accounts, 20 sub-accounts (each under one
billing account, as in FOCUS's hierarchy; v3 drew them independently), team/feature/env
tags (about 2% untagged), about 10% batch, skewed token counts, every prompt under 200k tokens,
a request id per record.

Usage: bench_data.py N OUTDIR   → OUTDIR/{csv,jsonl,csvgz}/usage/usage.{csv,jsonl,csv.gz}
"""
import gzip
import json
import os
import random
import sys

N = int(sys.argv[1])
OUT = sys.argv[2]
rng = random.Random(20261123)
MODELS = [("anthropic", m) for m in ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-5-20251101", "claude-sonnet-4-5"]] + \
         [("openai", m) for m in ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5"]] + \
         [("google", m) for m in ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash"]]
ACCOUNTS = ["acct_%02d" % i for i in range(3)]
SUBS = ["ws_%02d" % i for i in range(20)]
TEAMS = ["search", "support", "growth", "platform", "research"]
FEATURES = ["draft-reply", "faq", "summarise", "classify", "agent-run", "rerank"]
ENVS = ["prod", "staging"]
HEADER = ["timestamp", "provider", "billing_account", "sub_account", "model", "input_tokens", "output_tokens",
          "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "web_search_requests", "batch",
          "request_id", "tag.team", "tag.feature", "tag.env"]

for d in ("csv", "jsonl", "csvgz"):
    os.makedirs(os.path.join(OUT, d, "usage"), exist_ok=True)
csv_f = open(os.path.join(OUT, "csv", "usage", "usage.csv"), "w", newline="")
jsonl_f = open(os.path.join(OUT, "jsonl", "usage", "usage.jsonl"), "w")
gz_f = gzip.open(os.path.join(OUT, "csvgz", "usage", "usage.csv.gz"), "wt", compresslevel=6, newline="")
head = ",".join(HEADER) + "\n"
csv_f.write(head)
gz_f.write(head)
buf_csv, buf_json = [], []
for i in range(N):
    provider, model = MODELS[min(int(rng.paretovariate(1.2)) - 1, len(MODELS) - 1) if rng.random() < 0.7 else rng.randrange(len(MODELS))]
    day = 1 + (i * 31) // N
    ts = "2026-10-%02dT%02d:%02d:%02dZ" % (day, rng.randrange(24), rng.randrange(60), rng.randrange(60))
    inp = int(rng.lognormvariate(7.5, 1.2)) % 190000
    out = int(rng.lognormvariate(6, 1)) % 8000
    cr = int(inp * rng.random() * 3) % 150000 if rng.random() < 0.4 else 0
    cw5 = inp // 4 if provider == "anthropic" and rng.random() < 0.2 else 0
    cw1 = inp // 8 if provider == "anthropic" and rng.random() < 0.05 else 0
    if inp + cw5 + cw1 >= 200000:  # every prompt (input + cache read + cache writes) stays under 200k tokens
        cw5 = cw1 = 0
    cr = max(0, min(cr, 199999 - inp - cw5 - cw1))
    ws = 1 if rng.random() < 0.01 else 0
    batch = "true" if rng.random() < 0.1 else "false"
    tagged = rng.random() >= 0.02
    team, feat, env = (rng.choice(TEAMS), rng.choice(FEATURES), rng.choice(ENVS)) if tagged else ("", "", "")
    rid = "req_%012x" % rng.getrandbits(48) + "%07d" % i
    _, sub = rng.choice(ACCOUNTS), rng.choice(SUBS)  # the account draw is kept so that every other value stays as in v3
    acct = ACCOUNTS[SUBS.index(sub) % len(ACCOUNTS)]  # a sub-account belongs to one billing account (v4)
    buf_csv.append(f"{ts},{provider},{acct},{sub},{model},{inp},{out},{cr},{cw5},{cw1},{ws},{batch},{rid},{team},{feat},{env}\n")
    rec = {"timestamp": ts, "provider": provider, "billing_account": acct, "sub_account": sub, "model": model,
           "input_tokens": inp, "output_tokens": out, "cache_read_tokens": cr, "cache_write_5m_tokens": cw5,
           "cache_write_1h_tokens": cw1, "web_search_requests": ws, "batch": batch == "true", "request_id": rid}
    if tagged:
        rec["tags"] = {"team": team, "feature": feat, "env": env}
    buf_json.append(json.dumps(rec, separators=(",", ":")) + "\n")
    if len(buf_csv) >= 20000:
        s = "".join(buf_csv); csv_f.write(s); gz_f.write(s); jsonl_f.write("".join(buf_json)); buf_csv, buf_json = [], []
s = "".join(buf_csv); csv_f.write(s); gz_f.write(s); jsonl_f.write("".join(buf_json))
for f in (csv_f, jsonl_f, gz_f):
    f.close()
