# Sourced by the benchmark scripts: settings and the seeded input they share.
# BENCH_ROWS (default 1,000,000) records are generated once into BENCH_DIR (default .build-bench-data)
# and reused until the size or the generator version changes.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${BENCH_ROWS:-1000000}"
DATA="${BENCH_DIR:-$ROOT/.build-bench-data}"
PY="$(command -v python3)"
GENERATOR_VERSION=4  # bump when scripts/bench_data.py changes what it writes
if [ ! -f "$DATA/rows-$N-v$GENERATOR_VERSION" ]; then
  echo "bench: generating $N records in $DATA ..." >&2
  rm -rf "$DATA"; mkdir -p "$DATA"
  "$PY" scripts/bench_data.py "$N" "$DATA"
  touch "$DATA/rows-$N-v$GENERATOR_VERSION"
fi
swift build -c release >&2
for f in csv jsonl csvgz; do mkdir -p "$DATA/$f/ratecards" && cp Samples/ratecards/*.csv "$DATA/$f/ratecards/"; done

# DuckDB for the comparisons, from PyPI into its own venv (benchmarks only): sets DUCK_PY.
ensure_duckdb() {
  local venv="${HOME}/.cache/reckon/bench-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
    echo "bench: installing duckdb into $venv (PyPI) ..." >&2
    "$PY" -m venv "$venv" && "$venv/bin/pip" install -q duckdb || { echo "bench: could not install duckdb from PyPI" >&2; exit 69; }
  fi
  DUCK_PY="$venv/bin/python"
}
