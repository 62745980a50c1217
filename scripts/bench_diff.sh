#!/usr/bin/env bash
# The keyed diff (issue 6): two generated estimated FOCUS CSV files of BENCH_ROWS rows (default
# 1,000,000) that differ in 1% of rows, diffed by `reckon-load diff` and by DuckDB (a keyed full
# outer join, every column compared as text), back to back. Prints seconds and peak RSS of each.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
ensure_duckdb
DIFF="$DATA/diff"
if [ ! -f "$DIFF/rows-$N-v1" ]; then
  echo "bench: generating two $N-row FOCUS files in $DIFF ..." >&2
  rm -rf "$DIFF"; mkdir -p "$DIFF"
  "$PY" scripts/bench_diff.py generate "$N" "$DIFF"
  touch "$DIFF/rows-$N-v1"
fi
raw=$(( $(stat -c %s "$DIFF/before.csv") + $(stat -c %s "$DIFF/after.csv") ))
echo "Keyed diff of two $N-row FOCUS files ($((raw / 1000000)) MB together), 1% of rows differ"
rm -rf "$DIFF/out"
"$PY" scripts/measure.py "reckon-load diff" "$raw" "$((2 * N))" -- .build/release/reckon-load diff "$DIFF/before.csv" "$DIFF/after.csv" \
  --key ChargePeriodStart,BillingAccountId,SubAccountId,SkuPriceId,x_Model,Tags --output "$DIFF/out" || [ $? = 1 ]
read -r _ duck_s duck_mb < <("$DUCK_PY" scripts/bench_diff.py duckdb "$DIFF/before.csv" "$DIFF/after.csv" "$DIFF/duckdb.csv")
label="duckdb full outer join"
awk -v s="$duck_s" -v mb="$duck_mb" -v raw="$raw" -v n="$((2 * N))" -v l="$label" \
  'BEGIN { printf "%-28s %7.2f s  %8.1f MB/s  %6.2f M rows/s  peak RSS %6.1f MB\n", l, s, raw / 1e6 / s, n / s / 1e6, mb }'
grep -E '"(added|removed|changed_rows)"' "$DIFF/out/summary.json" | tr -d ' \n'; echo
