#!/usr/bin/env python3
"""The two latency targets of joule serve (issue 15), on a quiet machine:

    bench/serve_latency.py [--build build] [--threads 2] [--out bench/results]

1. Burst: 8 requests with 256-token prompts arrive together; the last first token should come
   within 1.2x of the time the engine needs to prefill all 2,048 tokens (no scheduling overhead).
   The reference is `joule bench -p 256` (the same engine, one 256-token prompt at a time) x 8.
2. Fairness: a request arriving while 7 others decode should get its first token within 2x of
   its time on an idle server (chunked prefill keeps prefill and decode fair).
Prompts are token ids (so each is exactly 256 tokens) through /v1/completions, streamed; the first
token is the first content chunk. The server runs `--scheduler fcfs`, the issue's server: the
default priority scheduler keeps a fifth of the sequences for urgent requests, so there an eighth
normal request waits for a free sequence by design (docs/serving.md, priority classes). Writes OUT/serve-latency-<UTC>.json and prints PASS/FAIL lines.
"""
import argparse
import datetime
import http.client
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start(joule, threads):
    proc = subprocess.Popen([str(joule), "serve", "--port", "0", "-t", str(threads), "--max-sequences", "8",
                             "--scheduler", "fcfs", "--no-energy"], stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"at http://127\.0\.0\.1:(\d+)/v1", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
    sys.exit("serve_latency: the server did not start")


def ttft(port, prompt_ids, max_tokens, out, key):
    """Streams one completion; records (first token s, end s) from the request's start."""
    body = json.dumps({"prompt": prompt_ids, "max_tokens": max_tokens, "temperature": 0, "stream": True})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.monotonic()
    c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    first = None
    for raw in r:
        line = raw.decode(errors="replace").strip()
        if first is None and line.startswith("data: {") and '"text":"' in line and '"text":""' not in line:
            first = time.monotonic() - t0
    out[key] = (first, time.monotonic() - t0)
    c.close()


def prompt(seed, n=256):
    return [(seed * 7919 + i * 104729) % 40000 + 100 for i in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = ap.parse_args()
    joule = Path(args.build) / "tools" / "joule"

    bench = subprocess.run([str(joule), "bench", "-p", "256", "-n", "0", "-t", str(args.threads), "-r", "3", "--json"],
                           capture_output=True, text=True, check=True)
    pp256 = next(r for r in json.loads(bench.stdout)["results"] if r["test"] == "pp256")
    tok_s = pp256["tokens_per_s_mean"]
    prefill_2048_s = 8 * 256 / tok_s

    proc, port = start(joule, args.threads)
    try:
        ttft(port, prompt(99), 1, {}, "warm")
        # 1. Burst of 8.
        out = {}
        ts = [threading.Thread(target=ttft, args=(port, prompt(i), 1, out, i)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        last_first = max(v[0] for v in out.values())
        # 2. Idle, then among 7 decoding streams.
        idle = {}
        ttft(port, prompt(50), 1, idle, "idle")
        busy = {}
        bg = [threading.Thread(target=ttft, args=(port, prompt(60 + i, 16), 400, busy, f"bg{i}")) for i in range(7)]
        for t in bg:
            t.start()
        time.sleep(2.0)  # the seven are decoding
        ttft(port, prompt(51), 1, busy, "probe")  # not prompt(50): its blocks are cached now
        for t in bg:
            t.join()
    finally:
        proc.terminate()
        proc.wait(timeout=60)

    burst_ratio = last_first / prefill_2048_s
    fair_ratio = busy["probe"][0] / idle["idle"][0]
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    res = {"date": stamp, "commit": commit, "threads": args.threads, "pp256_tok_s": tok_s,
           "prefill_2048_s": prefill_2048_s, "burst_first_token_s": sorted(v[0] for v in out.values()),
           "burst_ratio": burst_ratio, "idle_ttft_s": idle["idle"][0], "busy_ttft_s": busy["probe"][0],
           "fair_ratio": fair_ratio}
    path = Path(args.out) / f"serve-latency-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2) + "\n")
    print(f"{'PASS' if burst_ratio <= 1.2 else 'FAIL'}: burst of 8 x 256 tokens: last first token {last_first:.3f} s, "
          f"engine prefill of 2,048 tokens (joule bench pp256 {tok_s:.1f} tok/s x 8) {prefill_2048_s:.3f} s: "
          f"{burst_ratio:.2f}x (target <= 1.2x)")
    print(f"{'PASS' if fair_ratio <= 2 else 'FAIL'}: first token among 7 decoding streams {busy['probe'][0]:.3f} s, "
          f"idle {idle['idle'][0]:.3f} s: {fair_ratio:.2f}x (target <= 2x)")
    print(f"({path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
