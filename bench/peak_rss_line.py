#!/usr/bin/env python3
"""Adds the peak-RSS line to docs/benchmarks.md (after the generated table, before the hand-written
sections that start at the first "## " heading) from `joule run --json` on stdin."""
import json
import sys

d = json.load(sys.stdin)
mib = 2 ** 20
budget = d["model_file_bytes"] + d["kv_cache_bytes"] + 64 * mib
verdict = "within" if d["peak_rss_bytes"] <= budget else "OVER"
line = (f"\nPeak RSS of `joule run -n 512` on the default model: {d['peak_rss_bytes'] / mib:.1f} MiB; "
        f"budget = file {d['model_file_bytes'] / mib:.1f} MiB + KV cache {d['kv_cache_bytes'] / mib:.1f} MiB "
        f"+ 64 MiB = {budget / mib:.1f} MiB: {verdict} budget.\n")
doc = open(sys.argv[1]).read()
at = doc.find("\n## ")
doc = doc + line if at < 0 else doc[:at].rstrip("\n") + "\n" + line + doc[at:]
with open(sys.argv[1], "w") as f:
    f.write(doc)
