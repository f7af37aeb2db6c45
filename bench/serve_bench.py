#!/usr/bin/env python3
"""joule serve against llama-server on the same GGUF, prompts, threads and machine, interleaved
per concurrency level, loaded by `joule loadgen` (streaming chat, closed loop, temperature 0).
Writes bench/results/serve-STAMP.json (machine, commit, both servers' loadgen JSON per level, the
energy windows) and bench/results/serve-STAMP.md (the section for docs/benchmarks.md, also
printed), with the serving targets as PASS/FAIL lines. Standard library only.

  bench/serve_bench.py                       full run: levels 1,2,4,8,16, max_tokens 64 (quiet machine)
  bench/serve_bench.py --quick               smoke run: levels 1,4, a few requests, max_tokens 16
  bench/serve_bench.py --model models/variants/SmolLM2-135M-Instruct.q8_0.gguf
  bench/serve_bench.py --from-json bench/results/serve-STAMP.json   re-render the markdown

Each server is started fresh for every (level, server) pair, so no level inherits another's
prefix cache, slot state or allocator state, and both face the same cold start; startup and a
one-request warmup are outside the measured window. The order alternates per level (joule first
at the 1st, 3rd, 5th level; llama-server first at the others), so a drift of the machine over the
run does not favour one server. Both are configured once for the highest level: joule serve
`--max-sequences N`, llama-server `-np N -c N x SLOT_CTX` (llama-server splits -c among its slots;
continuous batching is its default), `-t THREADS` each.

Energy. joule's answers carry usage.energy (loadgen's energy_j, labelled with its source).
llama-server's carry none, and on a machine without sensors `joule power`'s CPU estimate follows
the CPU time of `joule power` itself, so it cannot see llama-server. What both get, the same way:
  - process estimate (always, when joule's meter is the CPU estimate): the server process's own
    CPU time (utime + stime of every thread, /proc/PID/stat) over the loadgen window, in joule's
    estimate model with joule's own parameters (read from joule serve's start line):
      E = idle_fraction * n_cores * w_per_core * wall_s + (1 - idle_fraction) * w_per_core * cpu_s
    labelled `estimated`; this is what joule's estimate computes for its own process.
  - machine meter (only where joule charges its requests to a CPU sensor, RAPL): `joule power
    --json` runs through the window and the domains joule's requests are charged to are
    differenced (interpolated at the window's ends), labelled with that source; it includes
    everything else on the machine (loadgen too). Not tried yet: this VM has no sensor.
The "J/token (both)" column uses the meter when there is one, else the process estimate.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOULE = os.path.join(ROOT, "build", "tools", "joule")
DEFAULT_MODEL = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_PROMPTS = "bench/serve_prompts.txt"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[serve-bench] {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(1)


# ---------------------------------------------------------------- machine and provenance

def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kw)


def git_commit():
    c = sh(["git", "rev-parse", "--short=12", "HEAD"]).stdout.strip() or "unknown"
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    return c + ("-dirty" if dirty else "")


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def busy_processes():
    """Other heavy work known to share this machine (a `joule study`), by pid and command."""
    r = sh(["pgrep", "-af", "joule study"])
    return [l for l in r.stdout.splitlines() if l.strip() and str(os.getpid()) != l.split()[0]]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- processes

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except Exception:
        return False


def stat_cpu_seconds(stat_path):
    """utime + stime from a /proc stat file (a process's: every thread; a task's: that thread), seconds."""
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def cpu_seconds(pid):
    """utime + stime of the whole process (every thread), seconds."""
    return stat_cpu_seconds(f"/proc/{pid}/stat")


def thread_cpu_seconds(pid):
    """utime + stime of each of the process's threads, seconds, by thread id."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out[tid] = stat_cpu_seconds(f"/proc/{pid}/task/{tid}/stat")
        except OSError:  # the thread ended between the listing and the read
            pass
    return out


def children_cpu_seconds():
    """CPU time of the children this script has waited for (loadgen's, around one run)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tail(path, n=25):
    try:
        return "".join(open(path, errors="replace").readlines()[-n:])
    except OSError:
        return ""


class Server:
    """One server process: started, waited for until /health answers, stopped."""

    def __init__(self, kind, cmd, logpath, env=None):
        self.kind, self.cmd, self.logpath = kind, cmd, logpath
        self.logf = open(logpath, "w")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
                                     start_new_session=True)
        self.url = None

    def wait_ready(self, url_from_log=None, base_url=None, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{tail(self.logpath)}")
            if self.url is None and url_from_log:
                m = re.search(url_from_log, open(self.logpath, errors="replace").read())
                if m:
                    self.url = m.group(1)
            elif self.url is None:
                self.url = base_url
            if self.url and http_ok(self.url.rsplit("/v1", 1)[0] + "/health"):
                self.startup_s = time.monotonic() - self.t_start
                return
            time.sleep(0.25)
        raise RuntimeError(f"{self.kind} not ready after {timeout} s:\n{tail(self.logpath)}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


class PowerMeter:
    """`joule power --json` in the background; every row stamped with its arrival time, so the
    chosen domains' cumulative energy can be interpolated at a window's two ends."""

    def __init__(self, domains, interval_ms=200):
        self.domains = domains
        self.rows = []  # (monotonic time, {domain: cumulative J})
        self.proc = subprocess.Popen([JOULE, "power", "--json", "--interval-ms", str(interval_ms)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     start_new_session=True)
        self.cum = {d: 0.0 for d in domains}
        self.last = {}  # domain -> (t, energy_j or None, power_w or None)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            t = time.monotonic()
            try:
                row = json.loads(line)
            except ValueError:
                continue
            by = {d["domain"]: d for d in row.get("domains", [])}
            for name in self.domains:
                d = by.get(name)
                if d is None:
                    continue
                e, p = d.get("energy_j"), d.get("power_w")
                prev = self.last.get(name)
                if prev is not None:
                    if e is not None and prev[1] is not None:
                        self.cum[name] += e - prev[1]          # counter: differences telescope
                    elif p is not None and prev[2] is not None:
                        self.cum[name] += 0.5 * (p + prev[2]) * (t - prev[0])  # power: trapezoid
                self.last[name] = (t, e, p)
            self.rows.append((t, sum(self.cum.values())))

    def wait_rows(self, after_t, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.rows) >= 2 and self.rows[-1][0] > after_t:
                return True
            time.sleep(0.05)
        return False

    def energy_between(self, t0, t1):
        rows = list(self.rows)

        def at(t):
            for (ta, ea), (tb, eb) in zip(rows, rows[1:]):
                if ta <= t <= tb:
                    return ea + (eb - ea) * (t - ta) / (tb - ta) if tb > ta else ea
            return None

        e0, e1 = at(t0), at(t1)
        return None if e0 is None or e1 is None else e1 - e0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- joule serve's start lines

ESTIMATE_RE = re.compile(r"estimate: (\d+) cores x ([\d.]+) W/core \((.*?)\), idle fraction ([\d.]+)")
REQUEST_ENERGY_RE = re.compile(r"request energy: (\w+) over (\[.*?\])")


def parse_joule_energy(text):
    """joule serve's energy configuration: the source and domains its requests are charged to, and
    its CPU estimate model when it has one."""
    out = {"request_source": None, "request_domains": [], "estimate_model": None}
    m = REQUEST_ENERGY_RE.search(text)
    if m:
        out["request_source"] = m.group(1)
        try:
            out["request_domains"] = json.loads(m.group(2))
        except ValueError:
            pass
    m = ESTIMATE_RE.search(text)
    if m:
        out["estimate_model"] = {"n_cores": int(m.group(1)), "w_per_core": float(m.group(2)),
                                 "basis": m.group(3), "idle_fraction": float(m.group(4))}
    return out


def estimate_j(model, wall_s, cpu_s):
    w, f, n = model["w_per_core"], model["idle_fraction"], model["n_cores"]
    return f * n * w * wall_s + (1 - f) * w * cpu_s


# ---------------------------------------------------------------- the run

def loadgen(url, concurrency, requests, max_tokens, prompts, logf):
    cmd = [JOULE, "loadgen", "--url", url, "-c", str(concurrency), "-n", str(requests),
           "--max-tokens", str(max_tokens), "--prompts", prompts, "--temp", "0", "--json"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=logf, text=True, cwd=ROOT)
    if r.returncode != 0 and not r.stdout.strip():
        raise RuntimeError(f"loadgen failed ({r.returncode}) against {url}")
    return json.loads(r.stdout)


def start_server(kind, a, peer, n_slots, slot_ctx, logpath):
    if kind == "joule":
        # FCFS: llama-server has no classes, and a reserve would hold back a share of the slots.
        s = Server(kind, [JOULE, "serve", "-m", a.model, "-t", str(a.threads), "--max-sequences", str(n_slots),
                          "--scheduler", "fcfs", "--port", "0"], logpath)
        s.wait_ready(url_from_log=r"\[joule\] serving .* at (http://127\.0\.0\.1:\d+/v1)")
    else:
        port = free_port()
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(peer, "build", "bin"))
        s = Server(kind, [os.path.join(peer, "build", "bin", "llama-server"), "-m", a.model, "-t", str(a.threads),
                          "-np", str(n_slots), "-c", str(n_slots * slot_ctx), "--host", "127.0.0.1",
                          "--port", str(port), "--no-webui"], logpath, env=env)
        s.wait_ready(base_url=f"http://127.0.0.1:{port}/v1")
    return s


def measure(kind, level, order, a, peer, n_slots, slot_ctx, requests, logdir, warm_prompts, energy_cfg):
    tag = f"{kind}-c{level}"
    logpath = os.path.join(logdir, f"{tag}.log")
    log(f"level {level}: {kind} (start, warm up, {requests} requests)")
    s = start_server(kind, a, peer, n_slots, slot_ctx, logpath)
    meter = None
    try:
        start_text = open(logpath, errors="replace").read()
        with open(os.path.join(logdir, f"{tag}.loadgen.log"), "w") as lg:
            loadgen(s.url, 1, 1, 4, warm_prompts, lg)  # first-request costs, outside the window
            if energy_cfg["meter_domains"]:
                meter = PowerMeter(energy_cfg["meter_domains"])
                if not meter.wait_rows(time.monotonic() - 1):
                    log("joule power gave no rows; no meter figure for this run")
            load0 = os.getloadavg()[0]
            t0, c0, th0, lg0 = time.monotonic(), cpu_seconds(s.proc.pid), thread_cpu_seconds(s.proc.pid), children_cpu_seconds()
            res = loadgen(s.url, level, requests, a.max_tokens, a.prompts, lg)
            t1, c1, th1, lg1 = time.monotonic(), cpu_seconds(s.proc.pid), thread_cpu_seconds(s.proc.pid), children_cpu_seconds()
            load1 = os.getloadavg()[0]
        wall, cpu = t1 - t0, c1 - c0
        # Where the machine's CPU went: the server's `threads` busiest threads (its compute threads),
        # its other threads (HTTP, the engine's bookkeeping when not computing) and the load generator.
        per_thread = sorted((th1[t] - th0.get(t, 0) for t in th1), reverse=True)
        energy = {"process_cpu_s": cpu, "window_s": wall, "busiest_threads_cpu_s": sum(per_thread[:a.threads]),
                  "other_threads_cpu_s": sum(per_thread[a.threads:]), "loadgen_cpu_s": lg1 - lg0}
        em = energy_cfg["estimate_model"]
        if em:
            energy["process_estimate_j"] = estimate_j(em, wall, cpu)
            energy["process_estimate_source"] = "estimated"
        if meter:
            meter.wait_rows(t1)
            mj = meter.energy_between(t0, t1)
            if mj is not None:
                energy["meter_j"] = mj
                energy["meter_source"] = energy_cfg["meter_source"]
                energy["meter_domains"] = energy_cfg["meter_domains"]
        run = {"server": kind, "level": level, "order": order, "requests": requests, "cmd": s.cmd,
               "startup_s": s.startup_s, "loadavg_1min": [load0, load1], "loadgen": res, "energy": energy}
        if kind == "joule":
            run["start_lines"] = [l for l in start_text.splitlines() if l.startswith("[joule]")]
        out_tok = res.get("output_tokens") or 0
        log(f"level {level}: {kind}: {res.get('completed')} done, {res.get('failed')} failed, "
            f"{res.get('output_throughput', 0):.1f} output tok/s, server CPU {cpu:.1f} s over {wall:.1f} s"
            + (f", {energy['process_estimate_j'] / out_tok:.4f} J/token (process estimate)" if em and out_tok else ""))
        return run
    finally:
        if meter:
            meter.stop()
        s.stop()


def single_stream_decode(a, peer):
    """Decode tokens/s of one stream, no server: joule bench and llama-bench, same model and threads."""
    out = {}
    r = sh([JOULE, "bench", "-m", a.model, "-p", "0", "-n", str(a.max_tokens), "-t", str(a.threads),
            "-r", str(a.bench_reps), "--json"])
    if r.returncode == 0:
        j = json.loads(r.stdout)
        x = next(x for x in j["results"] if x["test"] == f"tg{a.max_tokens}")
        out["joule"] = {"test": x["test"], "tokens_per_s": x["tokens_per_s_mean"], "sd": x["tokens_per_s_sd"]}
    else:
        log(f"joule bench failed: {r.stderr[-500:]}")
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(peer, "build", "bin"))
    r = subprocess.run([os.path.join(peer, "build", "bin", "llama-bench"), "-m", a.model, "-p", "0", "-n",
                        str(a.max_tokens), "-t", str(a.threads), "-r", str(a.bench_reps), "-o", "json"],
                       capture_output=True, text=True, cwd=ROOT, env=env)
    if r.returncode == 0:
        x = json.loads(r.stdout)[0]
        out["llama.cpp"] = {"test": f"tg{x['n_gen']}", "tokens_per_s": x["avg_ts"], "sd": x["stddev_ts"]}
    else:
        log(f"llama-bench failed: {r.stderr[-500:]}")
    return out


def prompt_tokens(peer, model, prompts):
    """Tokens of each prompt line (before the chat template), by the peer's tokenizer."""
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(peer, "build", "bin"))
    counts = []
    for line in open(os.path.join(ROOT, prompts)):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        r = subprocess.run([os.path.join(peer, "build", "bin", "llama-tokenize"), "-m", model, "-p", line, "--ids",
                            "--log-disable"], capture_output=True, text=True, cwd=ROOT, env=env)
        ids = re.search(r"\[[\d, ]*\]", r.stdout)
        if r.returncode != 0 or not ids:
            return None
        counts.append(len(json.loads(ids.group(0))))
    return counts


# ---------------------------------------------------------------- report

def pct(d, key, q):
    v = (d.get(key) or {}).get(q)
    return "-" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def same_method_j(run):
    e = run["energy"]
    if "meter_j" in e:
        return e["meter_j"], f"{e['meter_source']}, machine"
    if "process_estimate_j" in e:
        return e["process_estimate_j"], "estimated, process CPU"
    return None, None


def per_token(j, run):
    t = run["loadgen"].get("output_tokens") or 0
    return j / t if j is not None and t else None


def fmt(v, f="{:.4f}"):
    return "-" if v is None else f.format(v)


def render(R, raw_path):
    cfg, prov = R["config"], R["provenance"]
    runs = {(r["level"], r["server"]): r for r in R["runs"]}
    levels = cfg["levels"]
    jp = prov.get("joule", {})
    pt = cfg.get("prompt_tokens")
    pt_txt = f", {min(pt)}-{max(pt)} tokens before the chat template" if pt else ""
    methods = sorted({m for r in R["runs"] for m in [same_method_j(r)[1]] if m})
    em = cfg.get("estimate_model")
    L = [
        "## Serving: joule serve vs llama-server",
        "",
        f"`bench/serve_bench.py{' --quick' if cfg.get('quick') else ''}` on {prov['date']} (tree at {prov['git_commit']}, "
        f"joule {jp.get('git_commit', '?')}, {jp.get('kernels', '?')} kernels); host `{prov['host']}`, CPU {prov['cpu']}, "
        f"{prov['cores']} cores, load average {prov['loadavg_before'][0]:.2f} at the start"
        + (f"; **busy: {'; '.join(prov['busy'])}**" if prov.get("busy") else "") + ". "
        f"Peer: llama.cpp from the PyPI sdist llama-cpp-python {prov['peer']['llama_cpp_python']} "
        f"({prov['peer']['isa']}, `llama-server` {prov['peer']['llama_server_version']}). Same file `{cfg['model']}`, "
        f"same {cfg['n_prompts']} prompts (`{cfg['prompts']}`{pt_txt}), max_tokens {cfg['max_tokens']}, temperature 0, "
        f"{cfg['threads']} threads each; `joule loadgen` (streaming chat, closed loop) at each concurrency. Every "
        f"(level, server) on a freshly started server after one warmup request, the order alternating per level; "
        f"joule serve `--max-sequences {cfg['slots']} --scheduler fcfs`, llama-server `-np {cfg['slots']} -c {cfg['slots'] * cfg['slot_ctx']}` "
        f"({cfg['slot_ctx']} tokens per slot; continuous batching is its default).",
        "",
        "| streams | server | requests | output tok/s | joule / llama-server | TTFT p50 ms | TTFT p99 ms | TPOT p50 ms | TPOT p99 ms | J/token (both, same method) | J/token (joule's answers) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in levels:
        for kind in ["joule", "llama-server"]:
            r = runs.get((c, kind))
            if r is None:
                continue
            g = r["loadgen"]
            req = f"{g.get('completed', 0)}" + (f" ({g['failed']} failed)" if g.get("failed") else "")
            ratio = ""
            if kind == "joule" and (c, "llama-server") in runs:
                p = runs[(c, "llama-server")]["loadgen"].get("output_throughput")
                ratio = f"{g['output_throughput'] / p:.2f}x" if p else ""
            j, m = same_method_j(r)
            both = "-" if j is None else f"{per_token(j, r):.4f} ({m})"
            answers = "-"
            if g.get("energy_j") is not None and g.get("j_per_output_token") is not None:
                answers = f"{g['j_per_output_token']:.4f} ({g.get('energy_source')})"
            L.append(f"| {c} | {kind} | {req} | {g.get('output_throughput', 0):.1f} | {ratio} | {pct(g, 'ttft_ms', 'median')} | "
                     f"{pct(g, 'ttft_ms', 'p99')} | {pct(g, 'tpot_ms', 'median')} | {pct(g, 'tpot_ms', 'p99')} | {both} | {answers} |")
    L.append("")
    tok = []
    for kind in ["joule", "llama-server"]:
        gs = [r["loadgen"] for r in R["runs"] if r["server"] == kind and r["loadgen"].get("completed")]
        n = sum(g["completed"] for g in gs)
        if n:
            tok.append(f"{kind} {sum(g.get('prompt_tokens') or 0 for g in gs) / n:.1f} / "
                       f"{sum(g.get('output_tokens') or 0 for g in gs) / n:.1f}")
    if tok:
        L += ["Tokens per request, prompt (chat template included) / output, over all levels: " + ", ".join(tok)
              + ". The prompts are sent in turn, so each is sent requests / " + str(cfg["n_prompts"])
              + " times per level; both servers reuse cached prefixes.", ""]
    energy_note = ("Energy, J per output token. *Joule's answers*: the sum of `usage.energy` over the answers "
                   "(joule's ledger: each step's energy divided among the requests in it, idle time left out). "
                   "*Both, same method*: ")
    if any("machine" in m for m in methods):
        energy_note += ("the machine's meter (`joule power`, the domains joule charges requests to) differenced over "
                        "each loadgen window: everything on the machine, loadgen included. ")
    if em:
        energy_note += (f"the server process's own CPU time (utime + stime of all its threads from /proc/PID/stat) over "
                        f"each loadgen window in joule's CPU estimate model with joule's parameters ({em['n_cores']} cores "
                        f"x {em['w_per_core']:.2f} W/core, {em['basis']}, idle fraction {em['idle_fraction']:.2f}): "
                        f"E = idle fraction x cores x W/core x window + (1 - idle fraction) x W/core x CPU seconds. "
                        "Labelled `estimated`: a model of the CPU's power from CPU time, not a measurement; it is what "
                        "joule's estimate computes for its own process, applied to each server alike (loadgen's own CPU "
                        "is in neither). llama-server's answers carry no energy, and `joule power`'s estimate follows "
                        "only its own process's CPU time, so it cannot see llama-server.")
    L += [energy_note, ""]
    split = [f"{r['server']} at {r['level']}: {r['energy']['busiest_threads_cpu_s']:.2f} s in its {cfg['threads']} busiest "
             f"threads, {r['energy']['other_threads_cpu_s']:.2f} s in the rest, loadgen {r['energy']['loadgen_cpu_s']:.2f} s"
             f" (window {r['energy']['window_s']:.2f} s)"
             for r in R["runs"] if r["level"] == cfg["target_streams"] and "loadgen_cpu_s" in r["energy"]]
    if split:
        L += ["CPU over the window at the target level (/proc per thread; getrusage for loadgen): "
              + "; ".join(split) + ".", ""]
    ss = R.get("single_stream", {})
    if ss:
        L.append("Single-stream decode without a server (same model and threads, `joule bench` / `llama-bench`, "
                 f"-p 0 -n {cfg['max_tokens']} -r {cfg['bench_reps']}): "
                 + ", ".join(f"{k} {v['tokens_per_s']:.1f} ± {v['sd']:.1f} tok/s" for k, v in ss.items()) + ".")
        L.append("")
    L += ["Against the targets:", ""] + [f"- {t}" for t in targets(R)] + ["", f"Raw: `{raw_path}`.", ""]
    return "\n".join(L)


def targets(R):
    cfg = R["config"]
    T = cfg["target_streams"]
    runs = {(r["level"], r["server"]): r for r in R["runs"]}
    j1, jT, pT = runs.get((1, "joule")), runs.get((T, "joule")), runs.get((T, "llama-server"))
    out = []

    def verdict(ok):
        return "PASS" if ok else "FAIL"

    dec = R.get("single_stream", {}).get("joule", {}).get("tokens_per_s")
    if jT and dec:
        v = jT["loadgen"]["output_throughput"]
        out.append(f"{verdict(v >= 4 * dec)}: output tokens/s at {T} streams >= 4x joule's single-stream decode: "
                   f"{v:.1f} / {dec:.1f} (joule bench) = {v / dec:.2f}x")
        if j1 and j1["loadgen"].get("tpot_ms", {}).get("median"):
            d1 = 1000 / j1["loadgen"]["tpot_ms"]["median"]
            out.append(f"(info) the same against 1 / TPOT p50 of joule serve at 1 stream ({d1:.1f} tok/s): {v / d1:.2f}x")
    else:
        out.append(f"n/a: output tokens/s at {T} streams >= 4x joule's single-stream decode "
                   f"({'level ' + str(T) + ' not run' if not jT else 'no joule bench figure'})")
    if jT and pT and pT["loadgen"].get("output_throughput"):
        v, p = jT["loadgen"]["output_throughput"], pT["loadgen"]["output_throughput"]
        out.append(f"{verdict(v >= 1.5 * p)}: output tokens/s at {T} streams >= 1.5x llama-server's: "
                   f"{v:.1f} / {p:.1f} = {v / p:.2f}x")
    else:
        out.append(f"n/a: output tokens/s at {T} streams >= 1.5x llama-server's (level {T} not run for both)")
    if j1 and jT and j1["loadgen"].get("j_per_output_token") and jT["loadgen"].get("j_per_output_token"):
        a, b = j1["loadgen"]["j_per_output_token"], jT["loadgen"]["j_per_output_token"]
        out.append(f"{verdict(b <= 0.35 * a)}: joule's energy per output token at {T} streams <= 0.35x that at 1 stream "
                   f"(its answers, {jT['loadgen'].get('energy_source')}): {b:.4f} / {a:.4f} J = {b / a:.2f}x")
        s1, sT = per_token(same_method_j(j1)[0], j1), per_token(same_method_j(jT)[0], jT)
        if s1 and sT:
            out.append(f"(info) the same by the both-servers method ({same_method_j(jT)[1]}): {sT:.4f} / {s1:.4f} J = "
                       f"{sT / s1:.2f}x")
    else:
        out.append(f"n/a: joule's energy per output token at {T} streams <= 0.35x that at 1 stream "
                   f"(levels 1 and {T} with energy needed)")
    for c in cfg["levels"]:
        for kind in ["joule", "llama-server"]:
            r = runs.get((c, kind))
            if r and (r["loadgen"].get("failed") or r["loadgen"].get("errors")):
                out.append(f"WARNING: {kind} at {c} streams: {r['loadgen'].get('failed')} failed requests "
                           f"{json.dumps(r['loadgen'].get('errors'))}")
    return out


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL, help=f"GGUF file for both servers (default {DEFAULT_MODEL})")
    ap.add_argument("--levels", help="concurrency levels, comma-separated (default 1,2,4,8,16; --quick 1,4)")
    ap.add_argument("-n", "--requests", type=int,
                    help="requests per level (default: max(32, 4 x level) rounded up to a multiple of the prompts; "
                         "--quick: max(4, 2 x level))")
    ap.add_argument("--max-tokens", type=int, help="max_tokens per request (default 64; --quick 16)")
    ap.add_argument("-t", "--threads", type=int, default=2, help="threads of each server (default 2)")
    ap.add_argument("--prompts", default=DEFAULT_PROMPTS, help=f"prompt file, one per line (default {DEFAULT_PROMPTS})")
    ap.add_argument("--slot-ctx", type=int,
                    help="llama-server's context per slot (default: longest prompt + 64 template + max_tokens, "
                         "rounded up to 256, at least 512)")
    ap.add_argument("--bench-reps", type=int, help="repetitions of the single-stream decode benches (default 3; --quick 1)")
    ap.add_argument("--target-streams", type=int, default=8, help="the level the targets are checked at (default 8)")
    ap.add_argument("--quick", action="store_true", help="smoke run: levels 1,4, few requests, max_tokens 16")
    ap.add_argument("--force", action="store_true", help="run the full benchmark even when the machine is busy")
    ap.add_argument("--out", default="bench/results", help="results folder (default bench/results)")
    ap.add_argument("--from-json", metavar="FILE", help="print the markdown of an earlier results file, run nothing")
    a = ap.parse_args()
    a.levels = [int(x) for x in (a.levels or ("1,4" if a.quick else "1,2,4,8,16")).split(",")]
    a.max_tokens = a.max_tokens or (16 if a.quick else 64)
    a.bench_reps = a.bench_reps or (1 if a.quick else 3)
    return a


def main():
    a = parse_args()
    os.chdir(ROOT)
    if a.from_json:
        R = json.load(open(a.from_json))
        R["config"]["target_streams"] = a.target_streams
        print(render(R, a.from_json))
        return
    if not os.access(JOULE, os.X_OK):
        die(f"{JOULE} not found: build joule first (scripts/setup.sh)")
    if not os.path.exists(a.model):
        die(f"no model file {a.model}")
    prompts = [l for l in open(a.prompts).read().splitlines() if l.strip()]
    busy = busy_processes()
    load = os.getloadavg()
    if busy or load[0] > max(0.5, 0.25 * (os.cpu_count() or 1)):
        msg = f"the machine is busy (load average {load[0]:.2f}{'; ' + '; '.join(busy) if busy else ''})"
        if not a.quick and not a.force:
            die(msg + ": numbers taken under contention are meaningless; run later, or give --force")
        log("WARNING: " + msg + ": the figures of this run are not comparable to a quiet run")

    r = sh([os.path.join(ROOT, "scripts", "setup_peer.sh")])
    if r.returncode != 0:
        die("scripts/setup_peer.sh failed:\n" + r.stderr[-2000:])
    peer = r.stdout.strip().splitlines()[-1]
    llama_server = os.path.join(peer, "build", "bin", "llama-server")
    ver = subprocess.run([llama_server, "--version"], capture_output=True, text=True,
                         env=dict(os.environ, LD_LIBRARY_PATH=os.path.join(peer, "build", "bin")))
    ver_line = next((l for l in (ver.stdout + ver.stderr).splitlines() if l.startswith("version")), "unknown")

    slots = max(a.levels)
    ptoks = prompt_tokens(peer, a.model, a.prompts)
    if a.slot_ctx is None:
        need = (max(ptoks) if ptoks else 448) + 64 + a.max_tokens
        a.slot_ctx = max(512, -(-need // 256) * 256)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    os.makedirs(a.out, exist_ok=True)
    raw = os.path.join(a.out, f"serve-{stamp}.json")
    logdir = tempfile.mkdtemp(prefix="serve-bench-")
    warm = os.path.join(logdir, "warmup.txt")
    open(warm, "w").write("Say hello.\n")

    def n_requests(c):
        if a.requests:
            return a.requests
        if a.quick:
            return max(4, 2 * c)
        n = max(32, 4 * c)
        return -(-n // len(prompts)) * len(prompts)

    R = {
        "kind": "serve-bench",
        "provenance": {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "git_commit": git_commit(), "host": platform.node(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "machine": platform.machine(), "kernel": platform.release(), "loadavg_before": list(load), "busy": busy,
            "peer": {"dir": peer, "llama_cpp_python": re.sub(r".*peer-llama-cpp-python-([^-]+)-.*", r"\1", peer),
                     "isa": peer.rsplit("-", 1)[-1], "llama_server_version": ver_line.split(":", 1)[-1].strip()},
            "model_sha256": sha256(a.model), "model_bytes": os.path.getsize(a.model),
        },
        "config": {"model": a.model, "prompts": a.prompts, "n_prompts": len(prompts), "prompt_tokens": ptoks,
                   "levels": a.levels, "requests": {str(c): n_requests(c) for c in a.levels},
                   "max_tokens": a.max_tokens, "threads": a.threads, "slots": slots, "slot_ctx": a.slot_ctx,
                   "bench_reps": a.bench_reps, "target_streams": a.target_streams, "quick": a.quick,
                   "server_lifecycle": "fresh per (level, server), one warmup request, order alternating per level"},
        "runs": [],
    }
    log(f"peer {peer}; levels {a.levels}; requests {R['config']['requests']}; max_tokens {a.max_tokens}; "
        f"logs in {logdir}")

    # joule's energy configuration (and the estimate model both servers are put through), from one start.
    probe = start_server("joule", a, peer, slots, a.slot_ctx, os.path.join(logdir, "probe.log"))
    probe.stop()
    ecfg = parse_joule_energy(open(os.path.join(logdir, "probe.log"), errors="replace").read())
    ecfg["meter_domains"], ecfg["meter_source"] = [], None
    if ecfg["request_source"] in ("counter", "sampled") and ecfg["request_domains"]:
        if any(not d.startswith("gpu") for d in ecfg["request_domains"]):
            ecfg["meter_domains"], ecfg["meter_source"] = ecfg["request_domains"], ecfg["request_source"]
        else:  # joule charges its requests the GPU's energy only: no measure of this CPU benchmark's work
            log(f"note: joule's answers carry {ecfg['request_domains']} only (no CPU meter); they are not a CPU "
                "figure, and both servers are compared by the process estimate")
    if not ecfg["estimate_model"] and not ecfg["meter_domains"]:
        log("WARNING: joule serve reported neither a CPU estimate nor a meter: no energy figure for llama-server")
    R["config"]["estimate_model"] = ecfg["estimate_model"]
    R["config"]["joule_request_energy"] = {"source": ecfg["request_source"], "domains": ecfg["request_domains"]}
    log(f"energy: joule's answers {ecfg['request_source']} over {ecfg['request_domains']}; both servers: "
        + (f"meter ({ecfg['meter_source']}) and " if ecfg["meter_domains"] else "")
        + (f"process estimate {ecfg['estimate_model']}" if ecfg["estimate_model"] else "no process estimate"))

    log("single-stream decode: joule bench, llama-bench")
    R["single_stream"] = single_stream_decode(a, peer)
    try:
        for i, c in enumerate(a.levels):
            order = ["joule", "llama-server"] if i % 2 == 0 else ["llama-server", "joule"]
            for k, kind in enumerate(order):
                run = measure(kind, c, k, a, peer, slots, a.slot_ctx, n_requests(c), logdir, warm, ecfg)
                R["runs"].append(run)
                if kind == "joule":
                    R["provenance"].setdefault("joule", run["loadgen"].get("provenance", {}))
                with open(raw, "w") as f:  # after every run, so an interrupted run keeps what it measured
                    json.dump(R, f, indent=1)
    finally:
        R["provenance"]["loadavg_after"] = list(os.getloadavg())
        with open(raw, "w") as f:
            json.dump(R, f, indent=1)
    md = render(R, raw)
    with open(raw[:-len(".json")] + ".md", "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {raw} and {raw[:-len('.json')]}.md (server logs: {logdir})")


if __name__ == "__main__":
    main()
