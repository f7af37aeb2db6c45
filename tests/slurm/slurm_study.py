#!/usr/bin/env python3
"""A study run as a Slurm job array on a live one-node cluster, against the same study on one machine.

    tests/slurm/slurm_study.py BUILD_DIR

Starts a cluster (tests/slurm/cluster.py: slurm-wlm and munge from a scratch folder, free ports,
stopped by PID at the end), then with the default model, 2 precisions x 2 tasks (4 items each):
- `joule study run` on this machine: the reference database;
- `joule study slurm --shards 2 --submit --wait` and `--shards 4`: the merged database has the
  reference's cells, each once, with the same scores;
- a shard cancelled with `scancel` while it runs leaves cells missing (exit 1, the shard named
  with its log); rerunning the same command submits only that shard and completes the study.
Every wait is bounded.
"""
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cluster import SlurmCluster  # noqa: E402
from e2e_checks import check, failures  # noqa: E402  (tests/e2e_checks.py)

STUDY = """[study]
name = "slurm-e2e"
precisions = ["stored", "int8"]

[[models]]
name = "smollm2"   # no path: joule's default model

[[devices]]
kind = "cpu"
threads = [1]

[[tasks]]
name = "arc_easy"
limit = 4

[[tasks]]
name = "hellaswag"
limit = 4
"""


def cells(db):
    """{cell key: score} and the number of rows, from a results database."""
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT cell_key, score FROM cells WHERE study = 'slurm-e2e'").fetchall()
    return dict(rows), len(rows)


def main():
    joule = Path(sys.argv[1]).resolve() / "tools" / "joule"
    t_all = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="joule-slurm-study-"))
    try:
        (tmp / "s.toml").write_text(STUDY)

        def j(*args, env=None, timeout=600):
            r = subprocess.run([str(joule), *args], cwd=tmp, capture_output=True, text=True, timeout=timeout, env=env)
            return r.returncode, r.stdout, r.stderr

        t0 = time.monotonic()
        rc, out, err = j("study", "run", "s.toml", "--db", "single.db")
        check(rc == 0 and "4 cells run" in out, f"one machine: 4 cells ({time.monotonic() - t0:.0f} s)", out + err)
        reference, _ = cells(tmp / "single.db")

        with SlurmCluster() as cluster:
            print(f"     cluster up in {cluster.dir}", flush=True)
            for shards in (2, 4):
                t0 = time.monotonic()
                db, shard_dir = f"slurm{shards}.db", f"shards{shards}"
                rc, out, err = j("study", "slurm", "s.toml", "--shards", str(shards), "--db", db, "--db-dir", shard_dir,
                                 "--submit", "--wait", "--poll-s", "0.5", env=cluster.env)
                got, rows = cells(tmp / db)
                check(rc == 0 and got == reference and rows == len(reference),
                      f"{shards} shards on Slurm: the merged database equals the single run's cells and scores, each once "
                      f"({time.monotonic() - t0:.0f} s)", (rc, out, err, got, reference))
                check("submitted job" in err and f"shards 1,2{',3,4' if shards == 4 else ''} of {shards}" in err,
                      f"{shards} shards: every shard submitted and followed in squeue", err)
                rc, out, err = j("study", "slurm", "s.toml", "--shards", str(shards), "--db", db, "--db-dir", shard_dir,
                                 "--submit", "--wait", env=cluster.env)
                check(rc == 0 and "nothing to submit" in out, f"{shards} shards: a rerun of a complete study submits nothing",
                      out + err)

            # A shard cancelled while it runs: its cells are missing, the shard is named; the rerun
            # submits that shard alone and completes the study.
            db, shard_dir = "cancel.db", "shards-cancel"
            proc = subprocess.Popen([str(joule), "study", "slurm", "s.toml", "--shards", "2", "--db", db, "--db-dir",
                                     shard_dir, "--submit", "--wait", "--poll-s", "0.2"], cwd=tmp, env=cluster.env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            cancelled, deadline = None, time.monotonic() + 120
            while cancelled is None and time.monotonic() < deadline and proc.poll() is None:
                q = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True, env=cluster.env)
                running = [line.split()[0] for line in q.stdout.splitlines() if line.endswith("RUNNING")]
                if running:
                    subprocess.run(["scancel", running[0]], env=cluster.env, check=True)
                    cancelled = running[0]
                time.sleep(0.1)
            out, err = proc.communicate(timeout=300)
            check(cancelled is not None, f"scancel of a running shard ({cancelled})", err)
            got, _ = cells(tmp / db)
            check(proc.returncode == 1 and re.search(r"shard \d/2: \d cells? missing", err) and "(log: shards-cancel/joule-slurm-e2e-" in err and
                  "no exit status: cancelled, killed or never started" in err and len(got) < len(reference),
                  "the cancelled shard is named (cells missing, no exit status, its log) and the command exits 1",
                  (proc.returncode, out, err))
            rc, out, err = j("study", "slurm", "s.toml", "--shards", "2", "--db", db, "--db-dir", shard_dir, "--submit",
                             "--wait", "--poll-s", "0.5", env=cluster.env)
            got, rows = cells(tmp / db)
            check(rc == 0 and got == reference and rows == len(reference) and "of 2 (script" in err and
                  ("shard 1 of 2" in err or "shard 2 of 2" in err),
                  "the rerun submits only the cancelled shard and completes the study", (rc, out, err))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n({time.monotonic() - t_all:.0f} s)\n{len(failures)} failed" if failures else
          f"\n({time.monotonic() - t_all:.0f} s)\nall passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
