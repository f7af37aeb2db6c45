#!/usr/bin/env python3
"""lm-evaluation-harness itself against `joule serve`, item by item against `joule eval -m`.

    tests/lmeval_check.py BUILD_DIR [ITEMS]

lm-evaluation-harness 0.4.13 (`lm_eval[api]`, no torch; a venv this script makes once under
~/.cache/joule) runs its `local-completions` model against a `joule serve` of the default model:
it tokenizes through the server's /tokenize (`tokenizer_backend=remote`), sends token-id prompts
with echo + logprobs + max_tokens 1 and scores them itself. The datasets are joule's own files,
read through task files written here (ARC-Easy in its Hugging Face schema with the harness's
arc_easy prompt; HellaSwag as llama.cpp's preprocessed text, the same queries and endings joule
reads), with no hub access. `joule eval -m` scores the same first ITEMS items (default 200) of
each; the check: the same choice under acc_norm on every item and log-likelihood margins equal
to 1e-4, except where the two best choices tie within 1e-4 (each such item is printed), and the
same acc and acc_norm. Both sides run joule's AVX2 kernels (docs/engines.md says why).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_checks import check, summary  # noqa: E402
from joule_server import Server  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PINS = ["lm_eval[api]==0.4.13"]
VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "joule" / "lmeval-venv-0.4.13"
ISA = {"JOULE_ISA": "avx2"}
TIE = 1e-4


def ensure_venv():
    if not (VENV / "ok").exists():
        print(f"[lmeval] creating {VENV} with {' '.join(PINS)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS],
                       check=True)
        (VENV / "ok").write_text("\n".join(PINS) + "\n")
    return VENV / "bin" / "lm_eval"


def write_tasks(tmp, data):
    """Task files for the harness over joule's data (absolute paths, read offline)."""
    hs = tmp / "hellaswag.jsonl"
    lines = (data / "hellaswag" / "hellaswag_val_full.txt").read_text().split("\n")
    with open(hs, "w") as f:
        for i in range(0, len(lines) - 5, 6):
            f.write(json.dumps({"query": lines[i], "gold": int(lines[i + 1]), "endings": lines[i + 2:i + 6]}) + "\n")
    common = "test_split: test\noutput_type: multiple_choice\nmetric_list:\n  - metric: acc\n  - metric: acc_norm\n"
    (tmp / "joule_arc_easy.yaml").write_text(
        "task: joule_arc_easy\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {data / 'arc' / 'hf_schema_ARC-Easy-Test.jsonl'}\n" + common +
        'doc_to_text: "Question: {{question}}\\nAnswer:"\n'
        'doc_to_target: "{{choices.label.index(answerKey)}}"\ndoc_to_choice: "{{choices.text}}"\n')
    (tmp / "joule_hellaswag.yaml").write_text(
        f"task: joule_hellaswag\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {hs}\n" + common +
        'doc_to_text: "{{query}}"\ndoc_to_target: "{{gold}}"\ndoc_to_choice: "{{endings}}"\n')


def harness_items(out, task):
    """doc_id -> (acc_norm choice, its margin over the runner-up, acc_norm) from the harness's samples."""
    path = next(out.rglob(f"samples_{task}_*.jsonl"))
    items = {}
    for line in path.read_text().splitlines():
        s = json.loads(line)
        doc = s["doc"]
        texts = doc["choices"]["text"] if "choices" in doc else doc["endings"]
        norm = [float(ll) / len(t) for (ll, _), t in zip(s["filtered_resps"], texts)]
        order = sorted(range(len(norm)), key=lambda i: -norm[i])
        items[str(s["doc_id"])] = (order[0], norm[order[0]] - norm[order[1]], s["acc_norm"])
    return items


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    joule = Path(sys.argv[1]).resolve() / "tools" / "joule"
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 200
    t0 = time.monotonic()
    lm_eval = ensure_venv()
    with tempfile.TemporaryDirectory(prefix="joule-lmeval-") as t:
        tmp = Path(t)
        write_tasks(tmp, REPO / "data")
        srv = None
        try:
            srv = Server(joule, "-t", "2", "--max-sequences", "8", label="joule serve", extra_env=ISA)
            model = json.load(urllib.request.urlopen(srv.base + "/models", timeout=30))["data"][0]["id"]
            env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
            args = (f"model={model},base_url={srv.base}/completions,tokenizer_backend=remote,"
                    "num_concurrent=4,max_retries=3")
            p = subprocess.run([str(lm_eval), "--model", "local-completions", "--model_args", args,
                                "--tasks", "joule_arc_easy,joule_hellaswag", "--include_path", str(tmp), "--limit", str(n),
                                "--log_samples", "--output_path", str(tmp / "out")],
                               capture_output=True, text=True, env=env, timeout=1800)
            if not check(p.returncode == 0, f"lm_eval local-completions on joule serve ({n} items per task)",
                         p.stdout[-1500:] + p.stderr[-2500:]):
                return 1
            print(p.stdout[p.stdout.find("|"):].rstrip(), flush=True)
            results = json.loads(next((tmp / "out").rglob("results_*.json")).read_text())["results"]
            jenv = {k: v for k, v in os.environ.items() if not k.startswith("JOULE_")}
            jenv.update(ISA)
            q = subprocess.run([str(joule), "eval", "--tasks", "arc_easy,hellaswag", "--limit", str(n), "-t", "2",
                                "--no-energy", "--json", "--log-samples", str(tmp / "joule.jsonl")],
                               capture_output=True, text=True, env=jenv, timeout=1800)
            if not check(q.returncode == 0, "joule eval -m on the same items", q.stderr[-2000:]):
                return 1
            mine = json.loads(q.stdout)
            joule_items = {}
            for line in (tmp / "joule.jsonl").read_text().splitlines():
                s = json.loads(line)
                joule_items.setdefault(s["task"], {})[s["id"]] = (s["choice"], s["margin"], s["score"])
            for task, theirs_name in (("arc_easy", "joule_arc_easy"), ("hellaswag", "joule_hellaswag")):
                theirs = harness_items(tmp / "out", theirs_name)
                ours = joule_items[task]
                check(len(theirs) == len(ours) == n, f"{task}: {n} items on both sides", (len(theirs), len(ours)))
                differ, ties = [], []
                for i, (c, m, _) in ours.items():
                    tc, tm, _ = theirs[i]
                    if c == tc and abs(m - tm) <= TIE:
                        continue
                    (ties if min(abs(m), abs(tm)) <= TIE else differ).append((i, c, m, tc, tm))
                for i, c, m, tc, tm in ties:
                    print(f"     {task} item {i}: a tie within {TIE} (joule picks {c}, margin {m:.2e}; "
                          f"harness {tc}, {tm:.2e})", flush=True)
                check(not differ, f"{task}: the same acc_norm choice and margin (to {TIE}) on every item"
                      + (f" but {len(ties)} tie(s)" if ties else ""), differ[:5])
                r = results[theirs_name]
                m = next(x for x in mine["tasks"] if x["task"] == task)["metrics"]
                for metric in ("acc", "acc_norm"):
                    check(abs(r[f"{metric},none"] - m[metric]["value"]) < 1e-9,
                          f"{task}: {metric} {m[metric]['value']:.4f} (joule) = {r[f'{metric},none']:.4f} (harness)")
        except Exception as ex:  # noqa: BLE001 - a crash of the test is a failure, never a hang
            check(False, f"the checks ran to the end ({ex!r})", srv.stderr() if srv else "")
        finally:
            if srv:
                srv.kill()
    return summary(time.monotonic() - t0, "lm-evaluation-harness and joule eval agree item by item")


if __name__ == "__main__":
    sys.exit(main())
