#!/usr/bin/env bash
# make bench: generates 1,000,000 generic usage records as CSV, JSONL and gzipped CSV (seeded),
# runs the release extractor on each, then transform (one and two threads), reconcile and load on
# the CSV run, and the keyed diff against DuckDB; prints wall seconds, MB/s, rows/s and peak RSS.
# Targets (issue 3, one core): CSV >= 300 MB/s, JSONL >= 200 MB/s, peak RSS < 100 MB.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
echo "Reckon extract, $N generic usage records ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))"
for f in csv jsonl csvgz; do
  file=$(ls "$DATA/$f/usage/"*)
  raw=$(stat -c %s "$file")
  if [ "$f" = csvgz ]; then raw=$(stat -c %s "$DATA/csv/usage/usage.csv"); fi  # MB/s of uncompressed input
  "$PY" scripts/measure.py "extract $f" "$raw" "$N" -- .build/release/reckon-extract --input "$DATA/$f" --output "$DATA/out-$f" --max-quarantine-share 1
done

# The CSV export dropped twice into usage/ (every record of the second copy repeats a request id):
# the repeats stream to the quarantine, memory stays flat (the same peak as one copy, give or take).
mkdir -p "$DATA/csv-twice/usage"
for copy in a b; do
  ln -f "$DATA/csv/usage/usage.csv" "$DATA/csv-twice/usage/$copy.csv" 2>/dev/null || cp "$DATA/csv/usage/usage.csv" "$DATA/csv-twice/usage/$copy.csv"
done
raw=$(stat -c %s "$DATA/csv/usage/usage.csv")
"$PY" scripts/measure.py "extract csv twice (half repeats)" "$((2 * raw))" "$((2 * N))" -- \
  .build/release/reckon-extract --input "$DATA/csv-twice" --output "$DATA/out-csv-twice" --max-quarantine-share 1
rm -rf "$DATA/out-csv-twice"

# The same export with Google's rate card missing: every Google quantity is unpriced usage, and
# transform's threads keep their quarantine entries in bounded memory.
mkdir -p "$DATA/csv-unpriced/usage" "$DATA/csv-unpriced/ratecards"
ln -f "$DATA/csv/usage/usage.csv" "$DATA/csv-unpriced/usage/usage.csv" 2>/dev/null || cp "$DATA/csv/usage/usage.csv" "$DATA/csv-unpriced/usage/usage.csv"
for card in Samples/ratecards/*.csv; do [ "$(basename "$card")" = google.csv ] || cp "$card" "$DATA/csv-unpriced/ratecards/"; done
.build/release/reckon-extract --input "$DATA/csv-unpriced" --output "$DATA/out-csv-unpriced" 2>/dev/null
"$PY" scripts/measure.py "transform, Google unpriced" "$raw" "$N" -- \
  .build/release/reckon-transform --input "$DATA/csv-unpriced" --output "$DATA/out-csv-unpriced"
rm -rf "$DATA/out-csv-unpriced"

# Transform (pricing + FOCUS rows) on the CSV run's staging, on one core and on all of them; the
# job logs its pricing phase (load the rate cards, read extract's staged records, price every meter
# quantity, sum into daily cells) separately: issue 4 asks for records/s of pricing on one core.
raw=$(stat -c %s "$DATA/csv/usage/usage.csv")
for threads in 1 "$(nproc)"; do
  MEASURE_STDERR="$DATA/transform.log" "$PY" scripts/measure.py "transform --threads $threads" "$raw" "$N" -- \
    .build/release/reckon-transform --input "$DATA/csv" --output "$DATA/out-csv" --threads "$threads"
  "$PY" -c '
import re, sys
n, threads = int(sys.argv[1]), sys.argv[2]
for line in sys.stdin:
    m = re.search(r"seconds=([0-9.]+).*priced usage", line)
    if m:
        s = float(m.group(1))
        print(f"  pricing phase, {threads} thread(s) {s:7.2f} s  {n / s / 1e6:6.2f} M records/s")
' "$N" "$threads" < "$DATA/transform.log"
done
"$PY" scripts/measure.py "reconcile" "$raw" "$N" -- .build/release/reckon-reconcile --input "$DATA/csv" --output "$DATA/out-csv"
rm -rf "$DATA/out-csv/previous" "$DATA/out-csv/focus" "$DATA/out-csv/reports"   # a first night: no diff against the previous one
"$PY" scripts/measure.py "load (first night)" "$raw" "$N" -- .build/release/reckon-load --input "$DATA/csv" --output "$DATA/out-csv"
"$PY" scripts/measure.py "load (second night, + diff)" "$raw" "$N" -- .build/release/reckon-load --input "$DATA/csv" --output "$DATA/out-csv"
scripts/bench_diff.sh
