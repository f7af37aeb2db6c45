#!/usr/bin/env python3
"""Priority classes under overload: joule serve with its priority scheduler (and, for contrast,
--scheduler fcfs) loaded at twice its capacity with a mix of urgent, normal and low requests.
Writes bench/results/priority-STAMP.json and .md (the section for docs/benchmarks.md, also
printed) with issue 17's targets as PASS/FAIL lines. Standard library only.

  bench/priority_bench.py                  full run (quiet machine, ~5 min)
  bench/priority_bench.py --duration 20    shorter overload windows

Steps, each on a freshly started server (the default model, -t THREADS, --max-sequences 8):
  1. unloaded: 48 urgent requests one at a time (closed loop, concurrency 1): TTFT p99 alone;
  2. capacity: normal requests, closed loop at concurrency 8 (the server's sequences): requests/s;
  3. overload, priority scheduler: Poisson arrivals at 2x that rate for --duration seconds with
     --mix urgent:0.1,normal:0.6,low:0.3, every class's queue bounded (--max-waiting 16);
  4. the same overload with --scheduler fcfs (classes ignored), same seed, so the same arrivals.
Targets (issue 17): under overload urgent p99 TTFT within 2x its unloaded value; normal and low
absorb the delay; no 5xx; every rejection a 429 with Retry-After.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_bench as sb  # noqa: E402  (Server, provenance helpers)

MIX = "urgent:0.1,normal:0.6,low:0.3"
CLASSES = ("urgent", "normal", "low")


def log(msg):
    print(f"[priority-bench] {msg}", file=sys.stderr, flush=True)


def start(a, logdir, name, extra):
    s = sb.Server(name, [sb.JOULE, "serve", "-m", a.model, "-t", str(a.threads), "--max-sequences", str(a.sequences),
                         "--max-waiting", str(a.max_waiting), "--port", "0", *extra],
                  os.path.join(logdir, f"{name}.log"))
    s.wait_ready(url_from_log=r"\[joule\] serving .* at (http://127\.0\.0\.1:\d+/v1)")
    return s


def loadgen(url, a, logf, *args):
    cmd = [sb.JOULE, "loadgen", "--url", url, "--max-tokens", str(a.max_tokens), "--prompts", a.prompts, "--temp", "0",
           "--seed", str(a.seed), "--json", *args]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=logf, text=True, cwd=sb.ROOT)
    if not r.stdout.strip():
        raise RuntimeError(f"loadgen failed ({r.returncode}): {' '.join(cmd)}")
    return json.loads(r.stdout)


def run_step(a, logdir, name, extra, *load_args):
    s = start(a, logdir, name, extra)
    try:
        with open(os.path.join(logdir, f"{name}.loadgen.log"), "w") as logf:
            loadgen(s.url, a, logf, "-n", "2", "-c", "1")  # warm up
            return loadgen(s.url, a, logf, *load_args)
    finally:
        s.stop()


def fmt_ms(v):
    return "-" if v is None else f"{v:.0f}"


def render(R, raw):
    m = R["machine"]
    out = [f"`bench/priority_bench.py` on {R['stamp']} (joule {R['commit']}); host `{m['host']}`, CPU {m['cpu']}, "
           f"{m['cores']} cores, load average {m['load']:.2f} at the start. Model `{R['model']}`, {R['threads']} threads, "
           f"`--max-sequences {R['sequences']} --max-waiting {R['max_waiting']}` (per class), max_tokens "
           f"{R['max_tokens']}, prompts `{R['prompts']}`, `joule loadgen` streaming chat at temperature 0.", ""]
    un, cap = R["unloaded"], R["capacity"]
    out.append(f"Unloaded (urgent, one at a time, {un['completed']} requests): TTFT p50 {fmt_ms(un['ttft_ms']['median'])} "
               f"ms, p99 {fmt_ms(un['ttft_ms']['p99'])} ms. Capacity (normal, closed loop at {R['sequences']}): "
               f"{cap['request_throughput']:.2f} requests/s, {cap['output_throughput']:.1f} output tok/s. Overload: "
               f"Poisson arrivals at {R['rate']:.2f} requests/s (2x capacity) for {R['duration_s']:.0f} s, mix `{MIX}`, "
               f"seed {R['seed']} (the same arrivals and classes for both schedulers).")
    out.append("")
    out.append("| scheduler | class | sent | completed | 429 | 5xx | TTFT p50 ms | TTFT p99 ms | TPOT p50 ms | E2E p50 ms | "
               "E2E p99 ms | J/request |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for sched in ("priority", "fcfs"):
        run = R["overload"][sched]
        for c in CLASSES:
            k = run["by_priority"][c]
            errs = k["errors"]
            fivexx = sum(n for s, n in errs.items() if s.startswith("5"))
            jr = k.get("j_per_request")
            out.append(f"| {sched} | {c} | {k['completed'] + k['failed']} | {k['completed']} | {errs.get('429', 0)} | "
                       f"{fivexx} | {fmt_ms(k['ttft_ms']['median'])} | {fmt_ms(k['ttft_ms']['p99'])} | "
                       f"{fmt_ms(k['tpot_ms']['median'])} | {fmt_ms(k['e2el_ms']['median'])} | "
                       f"{fmt_ms(k['e2el_ms']['p99'])} | {'-' if jr is None else f'{jr:.3f}'} |")
    out.append("")
    out.append("Against the targets (priority scheduler):")
    out.append("")
    out += [f"- {line}" for line in targets(R)]
    out.append("")
    out.append(f"Raw: `{raw}`.")
    return "\n".join(out) + "\n"


def targets(R):
    p = R["overload"]["priority"]
    u = p["by_priority"]["urgent"]
    un_p99 = R["unloaded"]["ttft_ms"]["p99"]
    lines = []
    ratio = u["ttft_ms"]["p99"] / un_p99 if un_p99 else float("inf")
    lines.append(f"{'PASS' if ratio <= 2 else 'FAIL'}: urgent p99 TTFT under overload within 2x unloaded: "
                 f"{u['ttft_ms']['p99']:.0f} / {un_p99:.0f} ms = {ratio:.2f}x")
    f = R["overload"]["fcfs"]["by_priority"]["urgent"]["ttft_ms"]["p99"]
    lines.append(f"(info) the same with --scheduler fcfs: {f:.0f} ms = {f / un_p99:.2f}x unloaded")
    n_med = p["by_priority"]["normal"]["ttft_ms"]["median"]
    l_med = p["by_priority"]["low"]["ttft_ms"]["median"]
    absorb = u["ttft_ms"]["median"] <= n_med and u["ttft_ms"]["median"] <= l_med
    lines.append(f"{'PASS' if absorb else 'FAIL'}: normal and low absorb the delay: TTFT p50 urgent "
                 f"{u['ttft_ms']['median']:.0f} ms, normal {n_med:.0f} ms, low {l_med:.0f} ms")
    fivexx = sum(n for s, n in p["errors"].items() if s.startswith("5") or s in ("connection", "stream error"))
    lines.append(f"{'PASS' if fivexx == 0 else 'FAIL'}: no 5xx or failed connections: {fivexx}")
    no_ra = p.get("rejected_without_retry_after", 0)
    lines.append(f"{'PASS' if no_ra == 0 else 'FAIL'}: every rejection a 429 with Retry-After: "
                 f"{p['errors'].get('429', 0)} rejected, {no_ra} without Retry-After; other errors: "
                 f"{ {s: n for s, n in p['errors'].items() if s != '429'} or 'none'}")
    return lines


def add_common_args(ap):
    """The server, load and output flags this script shares with governor_bench.py."""
    ap.add_argument("--model", default=sb.DEFAULT_MODEL)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--sequences", type=int, default=8)
    ap.add_argument("--max-waiting", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--prompts", default=sb.DEFAULT_PROMPTS)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(sb.ROOT, "bench", "results"))
    ap.add_argument("--from-json", metavar="FILE", help="re-render the markdown of an earlier run")


def save(R, a, prefix, render_fn):
    """Writes OUT/PREFIX-STAMP.json and .md, prints the markdown."""
    os.makedirs(a.out, exist_ok=True)
    raw = os.path.join(a.out, f"{prefix}-{R['stamp']}.json")
    json.dump(R, open(raw, "w"), indent=1)
    md = render_fn(R, os.path.relpath(raw, sb.ROOT))
    open(os.path.join(a.out, f"{prefix}-{R['stamp']}.md"), "w").write(md)
    print(md)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.add_argument("--duration", type=float, default=60, help="seconds of overload per scheduler (default 60)")
    return ap.parse_args()


def main():
    a = parse_args()
    if a.from_json:
        R = json.load(open(a.from_json))
        print(render(R, os.path.relpath(a.from_json, sb.ROOT)))
        return 0
    if not os.path.exists(sb.JOULE):
        sb.die(f"no {sb.JOULE}: build first")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    R = {"stamp": stamp, "commit": sb.git_commit(), "model": a.model, "threads": a.threads, "sequences": a.sequences,
         "max_waiting": a.max_waiting, "max_tokens": a.max_tokens, "prompts": a.prompts, "seed": a.seed,
         "duration_s": a.duration,
         "machine": {"host": os.uname().nodename, "cpu": sb.cpu_model(), "cores": os.cpu_count(),
                     "load": os.getloadavg()[0]}}
    with tempfile.TemporaryDirectory(prefix="priority-bench-") as logdir:
        log("unloaded: urgent requests one at a time")
        R["unloaded"] = run_step(a, logdir, "unloaded", [], "-n", "48", "-c", "1", "--mix", "urgent:1")[
            "by_priority"]["urgent"]
        log(f"capacity: normal requests at concurrency {a.sequences}")
        R["capacity"] = run_step(a, logdir, "capacity", ["--reserve-urgent", "0"], "-n", str(4 * a.sequences), "-c",
                                 str(a.sequences))
        R["rate"] = 2 * R["capacity"]["request_throughput"]
        R["overload"] = {}
        for sched in ("priority", "fcfs"):
            log(f"overload at {R['rate']:.2f} req/s for {a.duration:.0f} s: --scheduler {sched}")
            R["overload"][sched] = run_step(a, logdir, f"overload-{sched}", ["--scheduler", sched], "-r",
                                            f"{R['rate']:.4f}", "-d", str(a.duration), "--mix", MIX)
    save(R, a, "priority", render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
