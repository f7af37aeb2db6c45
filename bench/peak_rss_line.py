#!/usr/bin/env python3
"""Appends the peak-RSS line to docs/benchmarks.md from `joule run --json` on stdin."""
import json
import sys

d = json.load(sys.stdin)
mib = 2 ** 20
budget = d["model_file_bytes"] + d["kv_cache_bytes"] + 64 * mib
verdict = "within" if d["peak_rss_bytes"] <= budget else "OVER"
line = (f"\nPeak RSS of `joule run -n 512` on the default model: {d['peak_rss_bytes'] / mib:.1f} MiB; "
        f"budget = file {d['model_file_bytes'] / mib:.1f} MiB + KV cache {d['kv_cache_bytes'] / mib:.1f} MiB "
        f"+ 64 MiB = {budget / mib:.1f} MiB: {verdict} budget.\n")
with open(sys.argv[1], "a") as f:
    f.write(line)
