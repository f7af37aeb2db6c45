#!/usr/bin/env python3
"""Soak test of `joule serve` (a benchmark, not CI): mixed load for a while, then the verdict.

    bench/serve_soak.py [--build build] [--minutes 10] [--rate 1.5] [--out bench/results]

Starts `joule serve` (the default model) on a free port and runs, at the same time:
  * `joule loadgen` on /chat/completions with Poisson arrivals (--rate, max_tokens 48),
  * `joule loadgen` on /completions with 2 closed-loop streams (max_tokens 16),
  * a client that opens a stream and hangs up after its first chunk, every 5 s,
  * /metrics scraped every 10 s,
and samples the server's resident memory (VmRSS) every 10 s. Passes when, after the first
minute (warm-up: pool, caches, allocator arenas), RSS stays within 5 % of its post-warm-up
median, no answer is a 5xx, and the server is still healthy at the end. Writes
OUT/serve-soak-<UTC>.json (machine, commit, the RSS series, both loadgen summaries, the scrape
count) and prints the verdict; exit status 0 on pass.
"""
import argparse
import datetime
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start_server(joule):
    proc = subprocess.Popen([str(joule), "serve", "--port", "0", "--max-sequences", "8", "--max-waiting", "32"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"at http://127\.0\.0\.1:(\d+)/v1", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
    proc.kill()
    sys.exit("serve_soak: the server did not start")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hang_up_once(port):
    """A streaming request abandoned after its first chunk; returns the status line's code."""
    body = json.dumps({"messages": [{"role": "user", "content": "Tell me a long story."}], "max_tokens": 200,
                       "stream": True})
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
        data = s.recv(4096).decode(errors="replace")
        return int(data.split(" ", 2)[1]) if data.startswith("HTTP/1.1 ") else 0
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=1.5, help="chat requests per second (Poisson)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = ap.parse_args()
    joule = Path(args.build) / "tools" / "joule"
    duration_s = args.minutes * 60
    proc, port = start_server(joule)
    url = f"http://127.0.0.1:{port}/v1"
    print(f"[soak] joule serve pid {proc.pid} at {url}, {args.minutes:g} min", file=sys.stderr)

    prompts = REPO / "bench" / "serve_prompts.txt"
    base = [str(joule), "loadgen", "--url", url, "--json", "-d", str(duration_s), "--prompts", str(prompts)]
    chat = subprocess.Popen(base + ["-r", str(args.rate), "--max-tokens", "48"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    cmpl = subprocess.Popen(base + ["--endpoint", "completions", "-c", "2", "--max-tokens", "16"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    rss, hangups, hangup_5xx, scrapes = [], 0, 0, 0
    t0 = time.time()
    next_rss = next_hang = next_scrape = t0
    while time.time() - t0 < duration_s:
        now = time.time()
        if now >= next_rss:
            rss.append([round(now - t0, 1), rss_kib(proc.pid)])
            next_rss += 10
        if now >= next_hang:
            code = hang_up_once(port)
            hangups += 1
            hangup_5xx += code >= 500
            next_hang += 5
        if now >= next_scrape:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/metrics")
            c.getresponse().read()
            c.close()
            scrapes += 1
            next_scrape += 10
        time.sleep(0.5)
    summaries = {}
    for name, p in (("chat", chat), ("completions", cmpl)):
        out, _ = p.communicate(timeout=900)
        summaries[name] = json.loads(out) if out.strip() else {"error": f"loadgen exit {p.returncode}"}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/health")
    healthy = c.getresponse().status == 200
    c.close()
    rss.append([round(time.time() - t0, 1), rss_kib(proc.pid)])
    proc.terminate()
    proc.wait(timeout=60)

    after = [kib for t, kib in rss if t >= 60] or [kib for _, kib in rss]
    median = statistics.median(after)
    drift = max(abs(k - median) / median for k in after)
    errors_5xx = hangup_5xx + sum(n for s in summaries.values() for code, n in s.get("errors", {}).items()
                                  if code.isdigit() and int(code) >= 500)
    passed = drift <= 0.05 and errors_5xx == 0 and healthy and all("error" not in s for s in summaries.values())
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    result = {"date": stamp, "commit": commit, "host": socket.gethostname(),
              "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), ""),
              "minutes": args.minutes, "rate": args.rate, "rss_kib": rss, "rss_drift_after_warmup": drift,
              "hangups": hangups, "errors_5xx": errors_5xx, "metrics_scrapes": scrapes, "healthy_at_end": healthy,
              "loadgen": summaries, "passed": passed}
    out = Path(args.out) / f"serve-soak-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    done = sum(s.get("completed", 0) for s in summaries.values())
    print(f"[soak] {done} requests + {hangups} hang-ups in {args.minutes:g} min; RSS {after[0] // 1024} -> "
          f"{after[-1] // 1024} MiB, at most {drift * 100:.1f} % from its median after warm-up; "
          f"{errors_5xx} 5xx; healthy at the end: {healthy} -> {'PASS' if passed else 'FAIL'} ({out})")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
