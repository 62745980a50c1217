#!/usr/bin/env bash
# Validates Reckon's FOCUS datasets with the FinOps Foundation's official focus-validator (PyPI
# focus-validator 2.2.1) for FOCUS 1.2 and 1.3, and with ../shared/focus/strict_check.py when present.
#
#   scripts/conformance.sh OUTPUT_DIR
#
# Installs the validator once into $RECKON_FOCUS_VENV (default ~/.cache/reckon/focus-venv) with
# Python >= 3.12 (under 3.11 pip silently installs the old 1.0.0). FOCUS 1.3 rules: $FOCUS_RULES_DIR,
# else ../shared/focus/rules beside the repository (offline), else the validator downloads them.
# Rules listed in conformance/validator-defects.txt are reported as IGNORED and not counted.
# Exit 0 when nothing failed, 1 on failures, 2 when the validator could not run.
set -u
OUT="${1:-out}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RECKON_FOCUS_VENV:-$HOME/.cache/reckon/focus-venv}"
CRITERIA="ACCOUNT_NAMING_SUPPORTED,USAGE_MEASUREMENT_SUPPORTED,UNIT_PRICING_SUPPORTED,PUBLIC_PRICE_LIST_SUPPORTED,NEGOTIATED_PRICING_SUPPORTED,MULTIPLE_PRICING_CATEGORIES_SUPPORTED,SUB_ACCOUNT_SUPPORTED"

find_python() {
  local c
  for c in python3.13 python3.12 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      command -v "$c"; return 0
    fi
  done
  for c in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
    if [ -x "$c" ] && "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      echo "$c"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/focus-validator" ]; then
  PY="$(find_python)" || {
    echo "conformance: focus-validator needs Python >= 3.12 and none was found." >&2
    echo "conformance: install one (Debian: apt-get install python3.12 python3.12-venv, or pyenv install 3.12) and rerun." >&2
    exit 2; }
  echo "conformance: installing focus-validator 2.2.1 into $VENV (once) ..." >&2
  rm -rf "$VENV"
  if ! { "$PY" -m venv "$VENV" && "$VENV/bin/pip" install -q focus-validator==2.2.1 'pyarrow<22'; } >&2; then
    echo "conformance: could not install focus-validator from PyPI (pip install focus-validator==2.2.1 'pyarrow<22')" >&2
    exit 2
  fi
fi
SITE="$("$VENV/bin/python" -c 'import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))')" || exit 2

RULES13="${FOCUS_RULES_DIR:-}"
if [ -z "$RULES13" ] && [ -d "$ROOT/../shared/focus/rules" ]; then RULES13="$(cd "$ROOT/../shared/focus/rules" && pwd)"; fi

shopt -s nullglob
files=("$OUT"/focus/*/billing_period=*/part-00000.csv)
if [ ${#files[@]} -eq 0 ]; then
  echo "conformance: no datasets under $OUT/focus; run make nightly first" >&2
  exit 2
fi

TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
passed=0; failed=0; broken=0
for f in "${files[@]}"; do
  abs="$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
  if [ "$(wc -l < "$abs")" -le 1 ]; then echo "conformance: $f has no rows, skipped" >&2; continue; fi
  for v in 1.2 1.3; do
    args=(--data-file "$abs" --validate-version "$v" --output-type console --applicability-criteria "$CRITERIA")
    if [ "$v" = "1.3" ]; then
      if [ -n "$RULES13" ]; then args+=(--block-download --rule-set-path "$RULES13"); fi
    else
      args+=(--block-download)
    fi
    # The validator opens a data file relative to the working directory: run it from site-packages.
    ( cd "$SITE" && PYTHONIOENCODING=utf-8 "$VENV/bin/focus-validator" "${args[@]}" ) >"$TMP/out.txt" 2>"$TMP/err.txt"
    if "$VENV/bin/python" "$ROOT/scripts/focus_results.py" "$TMP/out.txt" "$v" "$ROOT/conformance/validator-defects.txt" "$f"; then
      passed=$((passed + 1))
    else
      rc=$?
      if [ $rc -eq 2 ]; then tail -n 5 "$TMP/err.txt" >&2; broken=$((broken + 1)); else failed=$((failed + 1)); fi
    fi
  done
done

STRICT="$ROOT/../shared/focus/strict_check.py"
if [ -f "$STRICT" ]; then
  for f in "${files[@]}" "$OUT"/focus/*/billing_period=*/part-00000.jsonl; do
    if [[ "$f" == *.csv ]] && [ "$(wc -l < "$f")" -le 1 ]; then continue; fi
    if [[ "$f" == *.jsonl ]] && [ ! -s "$f" ]; then continue; fi
    line="$("$VENV/bin/python" "$STRICT" "$f" --version 1.3 | tail -n 1)"
    echo "strict $f: $line"
    case "$line" in *", 0 failed"*) passed=$((passed + 1));; *) failed=$((failed + 1));; esac
  done
else
  echo "conformance: ../shared/focus/strict_check.py not found; strict checks skipped" >&2
fi

echo "conformance: $passed passed, $((failed + broken)) failed"
[ $broken -gt 0 ] && [ $failed -eq 0 ] && exit 2
[ $failed -eq 0 ] && [ $broken -eq 0 ]
