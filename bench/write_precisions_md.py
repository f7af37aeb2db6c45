#!/usr/bin/env python3
"""Turns bench/precisions.sh's raw JSON lines into docs/precision-results.md (standard library only)."""
import json
import subprocess
import sys
from collections import defaultdict


def fmt(v, spec):
    return "" if v is None else format(v, spec)


def main():
    raw, out = sys.argv[1:3]
    rows = [json.loads(line) for line in open(raw)]
    ppl = {r["precision"]: r for r in rows if r["kind"] == "perplexity"}
    bench = next(r for r in rows if r["kind"] == "bench")
    speed = defaultdict(dict)  # precision -> (test, threads) -> result row
    for x in bench["results"]:
        speed[x["precision"]][(x["test"], x["threads"])] = x
    threads = sorted({x["threads"] for x in bench["results"]})
    prov = bench["provenance"]
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    n_params = bench["params"]
    lines = [
        "# Precisions on the default model: quality, size, speed, energy",
        "",
        f"Made by `bench/precisions.sh` on {prov['date']} (joule {prov['git_commit']}, tree at "
        f"{commit}); host `{prov['host']}`, CPU {prov['cpu']}, kernels {prov['kernels']}. Model: "
        "SmolLM2-135M-Instruct, stored in Q4_1 and converted at load time (`--precision`), so every "
        "precision starts from the dequantized Q4_1 values (docs/precisions.md).",
        "",
        "Quality: `joule perplexity` on GSM8K test text (questions and answers), "
        f"{next(iter(ppl.values()))['chunks'] if ppl else 0} chunks of 512 tokens, the second half of each "
        "scored, against the f32 configuration of the same weights (KL(f32 || precision) per token, "
        "top-1 agreement). Speed: `joule bench`, prefill of 512 tokens (pp512) and decode of 64 (tg64), "
        f"mean of {bench['reps']} repetitions. Decode ceiling: measured read bandwidth / weight bytes "
        "per token. Energy: decode J/token from the energy window of each repetition, with its source.",
        "",
    ]
    head = ["precision", "weights MiB", "bits/weight", "perplexity", "vs f32", "KL", "top-1"]
    for t in threads:
        head += [f"pp512 t/s ({t}t)", f"tg64 t/s ({t}t)", f"tg of ceiling ({t}t)"]
    head += [f"decode J/token ({threads[-1]}t)"]
    lines += ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for prec, tests in speed.items():
        any_row = next(iter(tests.values()))
        q = ppl.get(prec, {})
        ref = q.get("reference", {})
        cells = [prec, f"{any_row['weight_bytes'] / 2**20:.1f}",
                 f"{8 * any_row['weight_bytes'] / n_params:.2f}",
                 fmt(q.get("perplexity"), ".3f"), fmt(ref.get("perplexity_change_pct"), "+.2f") + (" %" if ref else ""),
                 fmt(ref.get("kl_divergence_mean"), ".4f"), fmt(100 * ref["top1_agreement"], ".1f") + " %" if ref else ""]
        for t in threads:
            pp, tg = tests.get(("pp512", t)), tests.get(("tg64", t))
            cells += [fmt(pp and pp["tokens_per_s_mean"], ".1f"), fmt(tg and tg["tokens_per_s_mean"], ".1f"),
                      fmt(tg and tg.get("fraction_of_ceiling"), ".2f")]
        tg = tests.get(("tg64", threads[-1]), {})
        energy = [f"{d['j_per_token']:.4f} ({d['source']})" for d in tg.get("energy", {}).values() if "j_per_token" in d]
        cells.append("; ".join(energy))
        lines.append("| " + " | ".join(cells) + " |")
    f32_pp = speed.get("f32", {}).get(("pp512", threads[-1]))
    dyn_pp = speed.get("int8-dynamic", {}).get(("pp512", threads[-1]))
    lines += ["", "Bits per weight count every weight matrix (the embedding table included) over all "
              f"{n_params / 1e6:.1f} M parameters. Read bandwidth: " +
              ", ".join(f"{t} thread(s) {g:.1f} GB/s" for t, g in sorted(bench['read_bandwidth_gb_s_by_threads'].items())) + "."]
    if f32_pp and dyn_pp:
        lines += ["", f"int8-dynamic prefill / f32 prefill ({threads[-1]} threads, pp512): "
                  f"{dyn_pp['tokens_per_s_mean'] / f32_pp['tokens_per_s_mean']:.2f}x."]
    lines += ["", f"Raw data: `{raw}`.", ""]
    open(out, "w").write("\n".join(lines))


if __name__ == "__main__":
    main()
