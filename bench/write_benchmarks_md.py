#!/usr/bin/env python3
"""Turns bench/compare_llamacpp.sh's raw JSON lines into docs/benchmarks.md (standard library only)."""
import json
import os
import platform
import subprocess
import sys
from collections import defaultdict


def main():
    raw, out = sys.argv[1:3]
    rows = [json.loads(line) for line in open(raw)]
    joule = defaultdict(dict)   # (type, threads) -> test -> joule row
    peer = defaultdict(dict)    # (type, threads) -> test -> (mean, sd)
    bw = {}                     # threads -> GB/s
    bytes_per_token = {}
    prov = None
    for r in rows:
        if r["engine"] == "joule":
            prov = r["provenance"]
            bytes_per_token[r["type"]] = r["bytes_per_token"]
            for t, gbs in r.get("read_bandwidth_gb_s_by_threads", {}).items():
                bw[int(t)] = max(bw.get(int(t), 0), gbs)
            for x in r["results"]:
                joule[(r["type"], x["threads"])][x["test"]] = x
        else:
            for x in r["results"]:
                test = f"pp{x['n_prompt']}" if x["n_gen"] == 0 else f"tg{x['n_gen']}"
                peer[(r["type"], x["n_threads"])][test] = (x["avg_ts"], x["stddev_ts"])
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    lines = [
        "# Benchmarks: joule vs llama.cpp (CPU)",
        "",
        f"Made by `bench/compare_llamacpp.sh` on {prov['date']} (joule {prov['git_commit']}, "
        f"tree at {commit}); host `{prov['host']}`, CPU {prov['cpu']}, {platform.machine()}, "
        f"joule kernels: {prov['kernels']}. Peer: llama.cpp built from the PyPI sdist "
        "llama-cpp-python 0.3.36 (AVX-512/VNNI/BF16, no AMX), `llama-bench`. Both engines ran the same "
        "files, interleaved per (model, threads). Model: SmolLM2-135M-Instruct shapes; the Q4_1 file "
        "is the default model, the others are `joule quantize` re-encodings of it.",
        "",
        "Decode ceiling = measured read bandwidth (threads as in the row) / weight bytes read per "
        "token; 'of ceiling' is the fraction of it each engine reaches.",
        "",
        "| type | threads | test | joule t/s | llama.cpp t/s | joule / llama.cpp | ceiling t/s | joule of ceiling | llama.cpp of ceiling |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (typ, th), tests in sorted(joule.items()):
        for test, x in tests.items():
            jm, js = x["tokens_per_s_mean"], x["tokens_per_s_sd"]
            pm, ps = peer.get((typ, th), {}).get(test, (float("nan"), float("nan")))
            ceil = x.get("bandwidth_ceiling_tokens_per_s")
            cells = [typ, str(th), test, f"{jm:.1f} ± {js:.1f}", f"{pm:.1f} ± {ps:.1f}", f"{jm / pm:.2f}x"]
            if ceil:
                cells += [f"{ceil:.1f}", f"{jm / ceil:.2f}", f"{pm / ceil:.2f}"]
            else:
                cells += ["", "", ""]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Read bandwidth: " + ", ".join(f"{t} thread(s) {g:.1f} GB/s" for t, g in sorted(bw.items())),
              "", "Weight bytes per token: " + ", ".join(f"{t} {b / 2**20:.1f} MiB" for t, b in bytes_per_token.items()),
              "", f"Raw data: `{raw}`.", ""]
    # Everything from the first "## " heading on is written by hand (analysis, kernel tables,
    # energy): keep it, so a rerun only replaces the generated table.
    kept = ""
    if os.path.exists(out):
        old = open(out).read()
        at = old.find("\n## ")
        if at >= 0:
            kept = old[at:]
    with open(out, "w") as f:
        f.write("\n".join(lines))
        f.write(kept)


if __name__ == "__main__":
    main()
