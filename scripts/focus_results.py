#!/usr/bin/env python3
"""Reads focus-validator's console report and decides pass/fail for Reckon's conformance check.

Usage: focus_results.py CONSOLE_OUTPUT VERSION DEFECTS_FILE LABEL
Prints one line per counted failure and per ignored known defect, then a summary line.
Exit 0: no counted failure; 1: failures; 2: the report is missing or unreadable.
"""
import re
import sys

console, version, defects_path, label = sys.argv[1:5]

ignored = set()
with open(defects_path, encoding="utf-8") as f:
    for raw in f:
        text = raw.split("#", 1)[0].split()
        if len(text) == 2 and text[0] == version:
            ignored.add(text[1])

results, details, totals = {}, {}, None
with open(console, encoding="utf-8", errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        m = re.match(r"^\S+ (\S+): (PASS|FAIL|SKIPPED)\b", line)
        if m:
            results[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^- (\S+): (violations=.*)$", line)
        if m:
            details[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)", line)
        if m:
            totals = [int(x) for x in m.groups()]

if totals is None:
    print(f"FOCUS {version} {label}: validator produced no report")
    sys.exit(2)

failures = sorted(r for r, s in results.items() if s == "FAIL")
# A composite rule reports "AND failed - failed child rules: [a, b]"; when every child is a known
# defect, the composite fails only because of them.
changed = True
while changed:
    changed = False
    for rule in failures:
        if rule in ignored:
            continue
        m = re.search(r"failed child rules: \[([^\]]*)\]", details.get(rule, ""))
        children = [c.strip().strip("'\"") for c in m.group(1).split(",")] if m else []
        if children and all(c in ignored for c in children):
            ignored.add(rule)
            changed = True

counted = [r for r in failures if r not in ignored]
for r in counted:
    print(f"  FAIL {r}: {details.get(r, '')[:300]}")
for r in failures:
    if r in ignored:
        print(f"  IGNORED (known validator defect) {r}")
total, ok, nfail, skipped = totals
print(f"FOCUS {version} {label}: {total - skipped} rules checked, {len(counted)} failed, {nfail - len(counted)} known defects ignored")
sys.exit(1 if counted else 0)
