#!/usr/bin/env python3
"""docs/eval-results.md from the JSON lines of bench/eval_default_model.sh (one `joule eval --json`
per line). Seconds and energy are as measured in that run: on a shared machine they are high.

    write_eval_md.py RAW.jsonl OUT.md                        the default model's page (rewritten)
    write_eval_md.py RAW.jsonl OUT.md --append "TITLE"       another model: a section appended
                                                             (an earlier section of that title replaced)
"""
import argparse
import json
import os

# SmolLM2-135M-Instruct's model card (lighteval, its own prompts): context only, not a target.
MODEL_CARD = {"hellaswag": "40.9", "arc_easy": "37.3 (ARC average)", "arc_challenge": "37.3 (ARC average)",
                    "mmlu": "29.3 (MMLU-cloze)", "gsm8k": "1.4 (5-shot)", "truthfulqa_mc1": "-", "truthfulqa_mc2": "-"}
TOTAL_ITEMS = {"hellaswag": 10042, "arc_easy": 2376, "arc_challenge": 1172, "truthfulqa_mc1": 817,
               "truthfulqa_mc2": 817, "mmlu": 14042, "gsm8k": 1319}


def pct(m):
    return f"{100 * m['value']:.2f} ± {100 * m['stderr']:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out")
    ap.add_argument("--append", metavar="TITLE", help="append a section with this title (another model)")
    a = ap.parse_args()
    raw, out = a.raw, a.out
    rows = [json.loads(line) for line in open(raw)]
    evals = [r for r in rows if r["kind"] == "eval"]
    prov = evals[0]["provenance"]
    card = MODEL_CARD if not a.append else {}
    lines = [
        f"## {a.append}" if a.append else "# Evaluation results: SmolLM2-135M-Instruct (Q4_1, the default model)",
        "",
        f"Made by `bench/eval_default_model.sh` on {prov['date']} (joule {prov['git_commit']}); host `{prov['host']}`, "
        f"CPU {prov['cpu']}, kernels {prov['kernels']}, {evals[0]['threads']} threads; model "
        f"sha256 `{prov.get('model_sha256')}`. Prompts and metrics as lm-evaluation-harness v0.4 (docs/tasks.md); "
        "scores in %, ± the standard error of the mean over items. Raw: "
        f"`{raw}`.",
        "",
        "| task | items | metric | joule | model card | s | tokens | tok/s | energy J (source) | J/token | EOR (1/Wh) | TWEOR (1/(Wh s)) |",
        "| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    details = []
    hs_llamacpp = None
    for r in evals:
        for t in r["tasks"]:
            name = t["task"]
            items = f"{t['items']}" + ("" if t["items"] == TOTAL_ITEMS.get(name) else f" of {TOTAL_ITEMS.get(name, '?')}")
            m = t["metrics"][t["primary_metric"]]
            energy = (f"{t['energy_j']:.0f} ({t['energy_sources']})", f"{t['j_per_token']:.4f}", f"{t['eor']:.3g}",
                      f"{t['tweor']:.4g}") if "energy_j" in t else ("not measured", "", "", "")
            lines.append(f"| {name} | {items} | {t['primary_metric']} | {pct(m)} | {card.get(name, '-')} | "
                         f"{t['seconds']:.0f} | {t['tokens']} | {t['tokens_per_s']:.0f} | " + " | ".join(energy) + " |")
            others = ", ".join(f"{k} {pct(v)}" for k, v in sorted(t["metrics"].items()) if k != t["primary_metric"])
            if others:
                details.append(f"- {name}: {others}")
        if r.get("hellaswag_llamacpp"):
            hs_llamacpp = r["hellaswag_llamacpp"]
    lines += ["", "Other metrics of the same runs:", ""] + details
    if hs_llamacpp:
        lines += ["", f"HellaSwag with llama.cpp's selection (mt19937 seed 1) and criterion (mean log-probability per "
                      f"token): {hs_llamacpp['tasks']} items, {100 * hs_llamacpp['acc']:.2f} % ({hs_llamacpp['correct']} "
                      f"correct), {hs_llamacpp['seconds']:.0f} s. Against `llama-perplexity --hellaswag` on the same items: "
                      "bench/hellaswag_vs_llamacpp.sh (docs/tasks.md has the latest comparison)."]
    lines.append("")
    text = "\n".join(lines)
    if a.append and os.path.exists(out):
        doc = open(out).read()
        head = f"## {a.append}\n"
        if head in doc:  # a rerun replaces its section
            start = doc.index(head)
            end = doc.find("\n## ", start + len(head))
            doc = doc[:start] + doc[end + 1:] if end >= 0 else doc[:start]
        text = doc.rstrip("\n") + "\n\n" + text
    open(out, "w").write(text)


if __name__ == "__main__":
    main()
