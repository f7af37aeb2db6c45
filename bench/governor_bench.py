#!/usr/bin/env python3
"""The power cap of joule serve's governor, measured: the same overload (Poisson arrivals at twice
the server's capacity, --mix urgent:0.1,normal:0.6,low:0.3) once with --governor off and once with
--power-cap-w set to a share of the unconstrained power. The average power over a WINDOW-second
window (after a warm-up) comes from the server's own /metrics (joule_energy_joules_total, all
accounts, whatever the source: on a machine without sensors it is the labelled CPU estimate).
Writes bench/results/governor-STAMP.json and .md (the section for docs/benchmarks.md, also
printed), with issue 17's target as a PASS/FAIL line. Standard library only.

  bench/governor_bench.py                     cap = 0.7 x unconstrained power, 60 s window (~4 min)
  bench/governor_bench.py --cap-share 0.5 --window 30
"""
import argparse
import datetime
import json
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import priority_bench as pb  # noqa: E402
import serve_bench as sb  # noqa: E402


def log(msg):
    print(f"[governor-bench] {msg}", file=sys.stderr, flush=True)


def energy_j(url):
    """joule_energy_joules_total summed over its accounts, and its source label."""
    text = urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/metrics", timeout=10).read().decode()
    total, source = 0.0, None
    for m in re.finditer(r'^joule_energy_joules_total\{([^}]*)\}\s+(\S+)$', text, re.M):
        total += float(m.group(2))
        source = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))).get("source")
    return total, source


def run(a, logdir, name, extra, rate):
    """Overload for warmup + window seconds; the power over the window from the server's meter."""
    s = pb.start(a, logdir, name, extra)
    try:
        result = {}
        with open(os.path.join(logdir, f"{name}.loadgen.log"), "w") as logf:
            load = threading.Thread(target=lambda: result.update(pb.loadgen(
                s.url, a, logf, "-r", f"{rate:.4f}", "-d", str(a.warmup + a.window + 2), "--mix", pb.MIX)))
            load.start()
            time.sleep(a.warmup)
            e0, source = energy_j(s.url)
            t0 = time.monotonic()
            time.sleep(a.window)
            e1, _ = energy_j(s.url)
            t1 = time.monotonic()
            load.join()
        governor_lines = [l.strip() for l in open(s.logpath, errors="replace") if "[joule] governor" in l]
        return {"power_w": (e1 - e0) / (t1 - t0), "window_s": t1 - t0, "energy_j": e1 - e0, "source": source,
                "loadgen": result, "governor_log": governor_lines[-40:]}
    finally:
        s.stop()


def render(R, raw):
    m = R["machine"]
    out = [f"`bench/governor_bench.py` on {R['stamp']} (joule {R['commit']}); host `{m['host']}`, CPU {m['cpu']}, "
           f"{m['cores']} cores, load average {m['load']:.2f} at the start. Model `{R['model']}`, {R['threads']} "
           f"threads, `--max-sequences {R['sequences']}`, max_tokens {R['max_tokens']}. Load: Poisson arrivals at "
           f"{R['rate']:.2f} requests/s (2x the capacity measured first, {R['capacity_rps']:.2f} requests/s), mix "
           f"`{pb.MIX}`, for {R['warmup']:.0f} s of warm-up and a {R['window']:.0f} s window; power = the server's "
           f"joule_energy_joules_total over the window ({R['off']['source']}).", ""]
    out.append("| governor | avg power W | output tok/s | J/output token | urgent TTFT p99 ms | normal TTFT p50 ms | "
               "low TTFT p50 ms | 429 (normal / low) |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, label in (("off", "off"), ("cap", f"--power-cap-w {R['cap_w']:.1f}")):
        r = R[key]
        lg = r["loadgen"]
        bp = lg.get("by_priority", {})
        jt = lg.get("j_per_output_token")
        out.append(f"| {label} | {r['power_w']:.2f} | {lg['output_throughput']:.1f} | "
                   f"{'-' if jt is None else f'{jt:.4f}'} | {bp['urgent']['ttft_ms']['p99']:.0f} | "
                   f"{bp['normal']['ttft_ms']['median']:.0f} | {bp['low']['ttft_ms']['median']:.0f} | "
                   f"{bp['normal']['errors'].get('429', 0)} / {bp['low']['errors'].get('429', 0)} |")
    out.append("")
    cap, p = R["cap_w"], R["cap"]["power_w"]
    dev = (p - cap) / cap
    out.append(f"- {'PASS' if abs(dev) <= 0.05 else 'FAIL'}: average power over {R['cap']['window_s']:.0f} s within "
               f"5 % of the cap, by admission control alone: {p:.2f} W against {cap:.2f} W ({dev * 100:+.1f} %); "
               f"unconstrained {R['off']['power_w']:.2f} W")
    errs = {k: v for k, v in R["cap"]["loadgen"]["errors"].items() if k != "429"}
    out.append(f"- {'PASS' if not errs else 'FAIL'}: no errors but 429 under the cap: {errs or 'none'}")
    out.append("")
    out.append("The governor's last decisions under the cap (server log):")
    out.append("")
    out.append("```")
    out += R["cap"]["governor_log"][-12:]
    out.append("```")
    out.append("")
    out.append(f"Raw: `{raw}`.")
    return "\n".join(out) + "\n"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pb.add_common_args(ap)
    ap.add_argument("--cap-share", type=float, default=0.7, help="the cap as a share of the unconstrained power")
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--window", type=float, default=60)
    return ap.parse_args()


def main():
    a = parse_args()
    if a.from_json:
        print(render(json.load(open(a.from_json)), os.path.relpath(a.from_json, sb.ROOT)))
        return 0
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    R = {"stamp": stamp, "commit": sb.git_commit(), "model": a.model, "threads": a.threads, "sequences": a.sequences,
         "max_tokens": a.max_tokens, "warmup": a.warmup, "window": a.window,
         "machine": {"host": os.uname().nodename, "cpu": sb.cpu_model(), "cores": os.cpu_count(),
                     "load": os.getloadavg()[0]}}
    with tempfile.TemporaryDirectory(prefix="governor-bench-") as logdir:
        log(f"capacity: normal requests at concurrency {a.sequences}")
        cap = pb.run_step(a, logdir, "capacity", ["--reserve-urgent", "0"], "-n", str(4 * a.sequences), "-c",
                          str(a.sequences))
        R["capacity_rps"] = cap["request_throughput"]
        R["rate"] = 2 * R["capacity_rps"]
        log(f"--governor off at {R['rate']:.2f} req/s")
        R["off"] = run(a, logdir, "off", ["--governor", "off"], R["rate"])
        R["cap_w"] = a.cap_share * R["off"]["power_w"]
        log(f"unconstrained {R['off']['power_w']:.2f} W; --power-cap-w {R['cap_w']:.2f}")
        R["cap"] = run(a, logdir, "cap", ["--power-cap-w", f"{R['cap_w']:.3f}"], R["rate"])
    pb.save(R, a, "governor", render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
