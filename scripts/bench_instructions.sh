#!/usr/bin/env bash
# make bench-instructions: instructions per record of transform on one thread, counted by valgrind's
# callgrind on 200,000 generated records (BENCH_ROWS to change). Unlike wall time on a shared VM
# (which drifts by a third between runs), the count is the same on every run of the same build and
# input, so it shows a change of a few percent. It counts work, not cache misses or I/O waits.
set -euo pipefail
export BENCH_ROWS="${BENCH_ROWS:-200000}" BENCH_DIR="${BENCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.build-bench-data-small}"
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
if ! command -v valgrind >/dev/null 2>&1; then
  echo "bench-instructions: valgrind is not installed (apt-get install valgrind); nothing measured" >&2
  exit 69
fi
.build/release/reckon-extract --input "$DATA/csv" --output "$DATA/out-csv" --max-quarantine-share 1 2>/dev/null
out="$DATA/callgrind.out"
valgrind --tool=callgrind --callgrind-out-file="$out" .build/release/reckon-transform \
  --input "$DATA/csv" --output "$DATA/out-csv" --threads 1 2>"$DATA/callgrind.log" || { tail -5 "$DATA/callgrind.log" >&2; exit 70; }
total=$(sed -n 's/^summary: *//p' "$out")
echo "transform, $N records, one thread: $total instructions, $((total / N)) per record (callgrind, $(date -u +%Y-%m-%d))"
if command -v callgrind_annotate >/dev/null 2>&1; then
  echo "largest functions (self):"
  callgrind_annotate "$out" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | sed -n '2,11p' | cut -c1-140
fi
