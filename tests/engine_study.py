#!/usr/bin/env python3
"""Studies whose engines the study starts itself (`[[engines]]`), end to end.

    tests/engine_study.py BUILD_DIR

1. A study with joule's own engine (the default model) and an engine `joule serve` that the study
   starts (`start = "{joule} serve --port {port} ..."`): all cells stored; the engine's cells
   score what the own engine's do on the same items; their provenance names the engine (URL,
   start command, PID, start-up seconds and energy); the engine is stopped afterwards; its log
   is kept; `joule report` lists it beside the own engine; with --idle-baseline its idle power is
   measured once it is up, before its cells.
2. An engine that exits before it is healthy: the error names its exit status.
3. An engine that dies during a cell (`timeout 6 joule serve ...`): the study stops with the
   engine's exit status and the finished cells kept; a rerun with a working engine completes it.
4. `--on-engine-failure next-engine` with an engine that cannot start before one that works: the
   first's cells are recorded as failed (exit status, log tail), the second's measured, the run
   exits 1 naming the failure, `joule report` lists the cells not measured; the rerun with the
   engine mended measures them and the failures are gone.
Both engines run AVX2 kernels (JOULE_ISA=avx2; docs/engines.md says why).
"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_checks import check, summary  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def study(name, engine_start, own=True, arc_limit=12):
    own_part = f"""
[[models]]
name = "smollm2"
path = "{MODEL}"

[[devices]]
kind = "cpu"
threads = [2]
""" if own else ""
    return f"""[study]
name = "{name}"
precisions = ["stored"]
{own_part}
[[tasks]]
name = "arc_easy"
limit = {arc_limit}

[[tasks]]
name = "gsm8k"
limit = 2

[[engines]]
name = "served"
start = "{engine_start}"
precision = "stored"
health_timeout_s = 120
stop_grace_s = 5
concurrency = 4
"""


def run(joule, tmp, text, db, *extra):
    f = tmp / "study.toml"
    f.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOULE_")}
    env["JOULE_ISA"] = "avx2"
    return subprocess.run([str(joule), "study", "run", str(f), "--db", str(db), "--max-gen-tokens", "32", *extra],
                          capture_output=True, text=True, env=env, timeout=900)


def cells(db, name):
    with sqlite3.connect(db) as c:
        return {k: (score, json.loads(prov)) for k, score, prov in
                c.execute("SELECT cell_key, score, provenance_json FROM cells WHERE study = ?", (name,))}


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def play_side_by_side(joule, tmp):
    db = tmp / "a.db"
    p = run(joule, tmp, study("engines-e2e", "{joule} serve --port {port} -t 2 --max-sequences 4"), db,
            "--idle-baseline", "1")
    if not check(p.returncode == 0, "a study with an engine it starts runs to the end", p.stderr[-3000:]):
        return
    got = cells(db, "engines-e2e")
    check(len(got) == 4, f"4 cells stored (2 tasks x own engine and joule serve): {len(got)}", list(got))
    for task in ("arc_easy", "gsm8k"):
        own = [v for k, v in got.items() if f"task={task};" in k and "device=cpu" in k]
        eng = [v for k, v in got.items() if f"task={task};" in k and "device=engine:served" in k]
        if own and eng:
            check(own[0][0] == eng[0][0], f"{task}: the engine's score equals the own engine's ({own[0][0]:.4f})",
                  (own[0][0], eng[0][0]))
    prov = next((v[1] for k, v in got.items() if "device=engine:served" in k), {})
    e = prov.get("engine", {})
    check(e.get("url", "").startswith("http://127.0.0.1:") and "serve --port" in e.get("start", "") and
          e.get("pid", 0) > 0 and e.get("start_s", -1) >= 0 and e.get("served_model"),
          "the engine's cells name it: URL, start command, PID, start-up seconds, served model", e)
    check(isinstance(e.get("start_energy"), dict), "the start-up's energy is recorded apart", e.get("start_energy"))
    check("process" in json.dumps(prov.get("energy_sources")), "the engine cells' estimate follows its process",
          prov.get("energy_sources"))
    check("its idle power" in p.stderr and "idle_power_w" in json.dumps(prov.get("energy_sources")),
          "--idle-baseline measures the engine's idle power once it is up", p.stderr[-800:])
    check(e.get("pid") and not alive(e["pid"]), f"the engine (pid {e.get('pid')}) is stopped after the study")
    log = tmp / "engines" / "served.log"
    check(log.exists() and "serving" in log.read_text(), f"its log is kept ({log})")
    r = subprocess.run([str(joule), "report", str(db)], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and "engine:served" in r.stdout, "joule report lists the engine beside the own engine",
          r.stdout[:1500] + r.stderr[-800:])


def play_unhealthy(joule, tmp):
    p = run(joule, tmp, study("engines-bad", "echo cannot start >&2; exit 3", own=False), tmp / "b.db")
    check(p.returncode != 0 and "exited with status 3 before" in p.stderr and "cannot start" in p.stderr,
          "an engine that exits before it is healthy: its exit status and log tail", p.stderr[-1500:])


def play_crash_and_resume(joule, tmp):
    db = tmp / "c.db"
    crashy = study("engines-crash", "timeout 6 {joule} serve --port {port} -t 1 --max-sequences 2", own=False,
                   arc_limit=60)
    p = run(joule, tmp, crashy, db)
    check(p.returncode != 0 and "exited with status 124 during the cell" in p.stderr,
          "an engine dying mid-cell stops the study with its exit status", p.stderr[-1500:])
    before = len(cells(db, "engines-crash"))
    fixed = crashy.replace("timeout 6 ", "")
    p = run(joule, tmp, fixed, db)
    after = cells(db, "engines-crash")
    check(p.returncode == 0 and len(after) == 2, f"the rerun completes the study ({before} -> {len(after)} cells)",
          p.stderr[-1500:])


def play_next_engine(joule, tmp):
    db = tmp / "d.db"
    broken = study("engines-next", "echo cannot start >&2; exit 3", own=False).replace('name = "served"', 'name = "broken"')
    text = broken + "\n[[engines]]" + study("x", "{joule} serve --port {port} -t 2 --max-sequences 4",
                                                own=False).split("[[engines]]")[1]
    p = run(joule, tmp, text, db, "--on-engine-failure", "next-engine")
    got = cells(db, "engines-next")
    check(p.returncode == 1 and "2 cells failed" in p.stderr and "exited with status 3" in p.stderr,
          "--on-engine-failure next-engine: the run goes on, names the failure and exits 1", p.stderr[-1500:])
    check(len(got) == 2 and all("device=engine:served" in k for k in got),
          f"the next engine's cells are stored ({len(got)})", list(got))
    with sqlite3.connect(db) as c:
        failed = c.execute("SELECT device, error FROM failures WHERE study = 'engines-next' ORDER BY rowid").fetchall()
    check(len(failed) == 2 and failed[0][0] == "engine:broken" and "exited with status 3" in failed[0][1] and
          "cannot start" in failed[0][1] and failed[1][1].startswith("not tried: its engine failed on cell"),
          "the failed engine's cells are recorded with its exit status and log tail", failed)
    r = subprocess.run([str(joule), "report", str(db)], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and "## Cells not measured" in r.stdout and "exited with status 3" in r.stdout,
          "joule report lists the cells not measured", r.stdout[-2500:] + r.stderr[-500:])
    j = subprocess.run([str(joule), "report", str(db), "--format", "json"], capture_output=True, text=True, timeout=120)
    failed_json = json.loads(j.stdout).get("failed_cells", []) if j.returncode == 0 else []
    check(len(failed_json) == 2 and "cannot start" in failed_json[0]["error"],
          "the JSON report carries the full errors", j.stdout[-1500:])
    fixed = text.replace("echo cannot start >&2; exit 3", "{joule} serve --port {port} -t 2 --max-sequences 4")
    p = run(joule, tmp, fixed, db, "--on-engine-failure", "next-engine")
    with sqlite3.connect(db) as c:
        left = c.execute("SELECT count(*) FROM failures f WHERE NOT EXISTS (SELECT 1 FROM cells c WHERE "
                         "c.study = f.study AND c.cell_key = f.cell_key)").fetchone()[0]
    check(p.returncode == 0 and len(cells(db, "engines-next")) == 4 and left == 0,
          "a rerun with the engine mended measures its cells and clears the failures", p.stderr[-1500:])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    joule = Path(sys.argv[1]).resolve() / "tools" / "joule"
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="joule-engine-study-") as t:
        for play in (play_side_by_side, play_unhealthy, play_crash_and_resume, play_next_engine):
            try:
                play(joule, Path(t))
            except Exception as ex:  # noqa: BLE001 - a crash of the test is a failure, never a hang
                check(False, f"{play.__name__} ran to the end ({ex!r})")
    return summary(time.monotonic() - t0, "studies start, measure and stop their engines")


if __name__ == "__main__":
    sys.exit(main())
