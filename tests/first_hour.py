#!/usr/bin/env python3
"""A new user's first hour with joule, played end to end and checked line by line.

    tests/first_hour.py BUILD_DIR [--clone]

Installs the build into a temporary prefix (`cmake --install BUILD_DIR --prefix TMP`) and, from an
unrelated folder, runs what a new user runs: bad command lines, `run` (-p, -f, -n -1, llama.cpp's
precision names), `eval` (lm-evaluation-harness flag spellings, every metric, errors that name what
is missing), `bench`, `quantize` (re-quantizing), `perplexity` on a short text, a small study,
`report`, `recommend` (exit status, --json) and `chat` through a pseudo-terminal (Ctrl-C, slash
commands, energy per turn). The same checks run on the build tree's binary from that folder.

--clone first clones the repository into a temporary folder and runs its scripts/setup.sh (a
fresh machine's build and model fetch), then plays the hour on that clone's build.
Standard library only; every wait is bounded, so it never hangs.
"""
import argparse
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_checks import check, failures  # noqa: E402  (tests/e2e_checks.py)

REPO = Path(__file__).resolve().parents[1]
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
COMMANDS = ["run", "chat", "info", "bench", "power", "quantize", "perplexity", "init-random", "convert", "eval",
            "study", "report", "recommend", "serve", "loadgen"]


class Joule:
    """One joule binary, run from `cwd` with a clean environment."""

    def __init__(self, binary, cwd, label):
        self.binary, self.cwd, self.label = str(binary), str(cwd), label
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("JOULE_")}

    def __call__(self, *args, env=None, timeout=600, stdin=None):
        e = dict(self.env, **(env or {}))
        p = subprocess.run([self.binary, *args], cwd=self.cwd, env=e, capture_output=True, text=True,
                           timeout=timeout, input=stdin)
        return p.returncode, p.stdout, p.stderr


def one_error_line(r, code, needle, what):
    rc, out, err = r
    lines = err.strip().splitlines()
    check(rc == code and out == "" and len(lines) == 1 and lines[0].startswith("joule: error: ")
          and needle in lines[0], what, f"exit {rc}\nstdout: {out!r}\nstderr: {err!r}")


def play_usage(j):
    one_error_line(j(), 2, "a command is required (" + ", ".join(COMMANDS) + ")", "bare `joule`: one line, every command")
    one_error_line(j("frobnicate"), 2, "commands: " + ", ".join(COMMANDS), "unknown command lists all commands")
    one_error_line(j("run"), 2, "-p TEXT or -f FILE", "`run` without a prompt")
    one_error_line(j("eval", "--frobnicate"), 2, "eval: ", "unknown flag, named with its command")
    one_error_line(j("run", "-p", "hi", "stray"), 2, "stray", "a positional where a flag belongs")
    one_error_line(j("run", "-p", "hi", "-n", "many"), 2, "many", "a bad number")
    rc, out, _ = j("--help")
    check(rc == 0 and "energy" in out and all(c in out for c in COMMANDS), "--help says what joule does, every command")


def play_run(j, tmp):
    rc, out, err = j("run", "-p", "The capital of France is", "-n", "8", "--temp", "0")
    check(rc == 0 and out.strip() != "" and "[joule]" not in out, "run: the text on stdout, nothing else",
          f"{rc}\n{out}\n{err}")
    check(err.count("energy sources:") == 1 and "estimated" in err, "run: energy sources once on stderr", err)
    prompt = tmp / "prompt.txt"
    prompt.write_text("The capital of France is")
    rc2, out2, _ = j("run", "-f", str(prompt), "-n", "8", "--temp", "0", "--no-energy")
    check(rc2 == 0 and out2 == out, "run -f FILE reads the prompt (same greedy text as -p)", f"{out!r} vs {out2!r}")
    rc, out, err = j("run", "-p", "Once upon a time", "-n", "-1", "--ctx", "48", "--temp", "0", "--json", "--no-energy")
    ok = rc == 0
    if ok:
        res = json.loads(out)
        ok = res["prompt_tokens"] + res["generated_tokens"] <= 49 and res["stop_reason"] != "length"
    check(ok, "run -n -1 generates until end of sequence or a full context", out[-400:] + err[-400:])
    rc, _, err = j("run", "-p", "hi", "-n", "2", "--precision", "Q4_K_M", "--no-energy")
    check(rc == 0 and "Q4_K_M is taken as q4_k" in err, "llama.cpp's preset name Q4_K_M, with a note", err)
    rc, _, err = j("run", "-p", "hi", "-n", "2", "--precision", "Q8_0", "--no-energy", "--json")
    check(rc == 0, "precision names in any case (Q8_0)", err)


def play_eval(j, tmp):
    args = ["eval", "--tasks", "arc_easy", "--limit", "6", "--num_fewshot", "0"]
    rc, out, err = j(*args)
    check(rc == 0, "eval --tasks ... --num_fewshot (lm-evaluation-harness spellings)", err)
    rows = [l for l in out.splitlines() if l.startswith("|")]
    check(any("acc_norm" in l for l in rows) and any(re.match(r"\| \| \| acc ", l) or "| acc * |" in l for l in rows),
          "eval table: every metric of the task (acc and acc_norm)", out)
    check("[joule]" not in out and "energy sources" not in out, "eval: stdout carries the table only", out)
    check(err.count("energy sources:") == 1, "eval: the sensor explanation once, on stderr", err)
    check("\r" not in err, "eval: progress off a terminal is whole lines (no carriage returns)", repr(err[-300:]))
    one_error_line(j(*args, env={"JOULE_DATA_DIR": str(tmp / "no-data")}), 1, str(tmp / "no-data"),
                   "eval: a missing data folder is named (JOULE_DATA_DIR)")
    rc, out, err = j("eval", "--tasks", "arc_easy", "--limit", "1", "-m", str(tmp / "none.gguf"))
    one_error_line((rc, out, err), 1, "model file not found", "eval: a missing model is named")


def play_missing_default_model(joule_bin, tmp):
    """An install without the model: the error says where joule looked and how to fetch it."""
    prefix = tmp / "bare-prefix"
    (prefix / "bin").mkdir(parents=True)
    shutil.copy(joule_bin, prefix / "bin" / "joule")
    j = Joule(prefix / "bin" / "joule", tmp, "bare")
    one_error_line(j("run", "-p", "hi"), 1, str(prefix / "share" / "joule" / "models" / MODEL_FILE),
                   "no default model: the error names where joule looked")
    _, _, err = j("run", "-p", "hi")
    check("scripts/setup.sh" in err and "JOULE_MODEL" in err, "... and how to fetch or point to it", err)
    one_error_line(j("eval", "--tasks", "arc_easy"), 1, str(prefix / "share" / "joule" / "data"),
                   "no data: the error names where joule looked")


def play_bench_quantize_perplexity(j, tmp):
    rc, out, err = j("bench", "-p", "0", "-n", "8", "-r", "1", "-t", "1")
    check(rc == 0 and "| q4_1 |" in out and "stored" not in out, "bench names the precision (q4_1)", out + err)
    frac = re.search(r"\| (\d+) % (\*?)\|", out)
    check(frac is not None and (int(frac.group(1)) <= 100 or ("* above 100 %" in out and frac.group(2) == "*")),
          "bench: a fraction of the ceiling above 100 % is footnoted", out)
    check("energy sources" not in out and err.count("energy sources:") == 1, "bench: sensors once, on stderr", err)
    rc, out, err = j("bench", "-p", "0", "-n", "8", "--parallel", "1,4", "-r", "1", "-t", "1", "--json")
    rows = {r["test"]: r for r in json.loads(out)["results"]} if rc == 0 else {}
    check(set(rows) == {"tg8", "tg8x4"} and rows["tg8x4"]["parallel"] == 4 and rows["tg8x4"]["n_tokens"] == 32
          and "bandwidth_ceiling_tokens_per_s" not in rows["tg8x4"] and rows["tg8x4"]["tokens_per_s_mean"] > 0,
          "bench --parallel 1,4: tg8 and tg8x4 (4 sequences, 32 tokens, no one-stream ceiling)", out + err)
    one_error_line(j("bench", "-p", "0", "-n", "8", "--parallel", "0"), 2, "--parallel",
                   "bench --parallel 0 is refused")
    model = j.home / "models" / MODEL_FILE
    one_error_line(j("quantize", str(model), str(tmp / "q8.gguf"), "--type", "q8_0"), 2, "--allow-requantize",
                   "quantize refuses to re-quantize a quantized model without --allow-requantize")
    text = tmp / "short.txt"
    text.write_text("A short text, much shorter than one context of 512 tokens: " + "it has a few dozen words. " * 4)
    one_error_line(j("perplexity", "-f", str(text)), 2, "would fit it in one chunk", "perplexity on a short text suggests --ctx")


STUDY = """[study]
name = "first-hour"
precisions = ["f32", "int8"]
baseline = "f32"

[[models]]
name = "smollm2"   # no path: joule's default model

[[devices]]
kind = "cpu"
threads = [1]

[[tasks]]
name = "arc_easy"
limit = 4
"""


def play_study(j, tmp):
    (tmp / "first-hour.toml").write_text(STUDY)
    rc, out, err = j("study", "run", "first-hour.toml", "--db", "hour.db")
    check(rc == 0 and "2 cells run" in out, "study run from an unrelated folder (default model, shipped data)", out + err)
    rc, out, err = j("report", "hour.db", "--format", "md")
    check(rc == 0 and "int8" in out and "f32" in out, "report", err)
    rc, out, err = j("report", "hour.db", "--format", "html", "-o", "hour.html")
    check(rc == 0 and (tmp / "hour.html").stat().st_size > 1000, "report --format html", err)
    rc, out, err = j("recommend", "hour.db", "--min-accuracy-retention", "0")
    check(rc == 0 and "Recommended" in out, "recommend: exit 0 when a configuration qualifies", out + err)
    rc, out, err = j("recommend", "hour.db", "--max-power-w", "0.01", "--json")
    ok = rc == 1
    if ok:
        res = json.loads(out)
        ok = res["recommended"] == [] and len(res["rejected"]) == 2 and "estimated" in out
    check(ok, "recommend: exit 1 and the numbers (an estimated power) when nothing qualifies", f"{rc}\n{out}\n{err}")


def read_until(fd, pattern, timeout_s, buf):
    """Reads the pty until `pattern` (a regex) matches what came since buf[0] was last cut."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if re.search(pattern, buf[0]):
            return True
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return bool(re.search(pattern, buf[0]))
            if not data:
                return bool(re.search(pattern, buf[0]))
            buf[0] += data.decode("utf-8", "replace")
    return bool(re.search(pattern, buf[0]))


def play_chat(j):
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(j.cwd)
        os.execve(j.binary, [j.binary, "chat", "--temp", "0", "-n", "400", "-t", "1"], j.env)
    buf = [""]
    try:
        check(read_until(fd, r"> $", 60, buf), "chat: the prompt appears", buf[0])
        buf[0] = ""
        os.write(fd, b"/help\n")
        check(read_until(fd, r"/reset[\s\S]*> $", 10, buf) and "/system" in buf[0] and "/exit" in buf[0],
              "chat: /help lists the commands", buf[0])
        buf[0] = ""
        os.write(fd, b"Name one color.\n")
        check(read_until(fd, r"\[joule\] turn[^\n]*J[\s\S]*> $", 120, buf), "chat: a reply, then the turn's energy",
              buf[0])
        buf[0] = ""
        os.write(fd, b"Write a very long story about a dragon who learns to count.\n")
        time.sleep(1.5)
        os.write(fd, b"\x03")  # Ctrl-C stops the reply
        check(read_until(fd, r"> $", 30, buf), "chat: Ctrl-C stops the reply and returns to the prompt", buf[0][-500:])
        buf[0] = ""
        os.write(fd, b"/reset\n")
        check(read_until(fd, r"> $", 10, buf), "chat: /reset", buf[0])
        buf[0] = ""
        os.write(fd, b"/system You answer in one word.\n")
        check(read_until(fd, r"> $", 10, buf), "chat: /system TEXT", buf[0])
        buf[0] = ""
        os.write(fd, b"Say hello.\n")
        check(read_until(fd, r"\[joule\] turn[\s\S]*> $", 120, buf), "chat: the conversation goes on after Ctrl-C",
              buf[0])
        os.write(fd, b"/exit\n")
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline and status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            status = st if done else None
            if status is None:
                read_until(fd, r"$^", 0.2, buf)
        check(status is not None and os.waitstatus_to_exitcode(status) == 0, "chat: /exit ends with status 0",
              str(status))
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def play(joule_bin, home, tmp, label):
    print(f"== {label}: {joule_bin} from {tmp}", flush=True)
    j = Joule(joule_bin, tmp, label)
    j.home = home
    play_usage(j)
    play_run(j, tmp)
    play_eval(j, tmp)
    play_bench_quantize_perplexity(j, tmp)
    play_study(j, tmp)
    play_chat(j)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", type=Path)
    ap.add_argument("--clone", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="joule-first-hour-") as t:
        tmp = Path(t)
        build, src = a.build_dir.resolve(), REPO
        if a.clone:
            src = tmp / "clone"
            subprocess.run(["git", "clone", "-q", str(REPO), str(src)], check=True)
            t0 = time.monotonic()
            subprocess.run([str(src / "scripts" / "setup.sh")], check=True, timeout=3600)
            print(f"fresh clone: scripts/setup.sh took {time.monotonic() - t0:.0f} s", flush=True)
            build = src / "build"
        prefix = tmp / "prefix"
        subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)], check=True,
                       stdout=subprocess.DEVNULL)
        installed = prefix / "bin" / "joule"
        check(installed.exists() and (prefix / "share/joule/data/SHA256SUMS").exists()
              and (prefix / "share/joule/models" / MODEL_FILE).exists(),
              "cmake --install: bin/joule, share/joule/data and the default model")
        for label, binary, home in (("installed", installed, prefix / "share" / "joule"),
                                    ("build tree", build / "tools" / "joule", src)):
            work = tmp / label.replace(" ", "-")
            work.mkdir()
            play(binary, home, work, label)
        play_missing_default_model(installed, tmp)
    print(f"\n{len(failures)} failed" if failures else "\nthe first hour works", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
