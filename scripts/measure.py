#!/usr/bin/env python3
"""Runs a command and prints its wall seconds and peak resident memory (of the child, in MB).

Usage: measure.py LABEL INPUT_BYTES ROWS -- COMMAND...   (prints one line; exit code = the command's)
With MEASURE_STDERR=FILE in the environment, the command's stderr (its log) is kept in FILE.
"""
import os
import resource
import subprocess
import sys
import time

label, nbytes, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cmd = sys.argv[sys.argv.index("--") + 1:]
t0 = time.perf_counter()
proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t0
rc = proc.returncode
if os.environ.get("MEASURE_STDERR"):
    with open(os.environ["MEASURE_STDERR"], "wb") as f:
        f.write(proc.stderr)
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{label:<28} {wall:7.2f} s  {nbytes / 1e6 / wall:8.1f} MB/s  {rows / wall / 1e6:6.2f} M rows/s  peak RSS {peak_mb:6.1f} MB"
      + ("" if rc == 0 else f"  (exit {rc})"))
sys.exit(rc)
