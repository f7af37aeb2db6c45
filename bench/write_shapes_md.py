#!/usr/bin/env python3
"""bench/shapes_7b.sh's raw JSON lines -> a Markdown table (standard library only).

Usage: write_shapes_md.py RAW.jsonl OUT.md

Decode rows also show the effective weight read rate of each engine (weight bytes per token x
tokens/s), which does not depend on the bandwidth probe; the ceiling is the probe's reading in
the same run (read bandwidth / weight bytes per token).
"""
import json
import sys


def main():
    raw, out = sys.argv[1:3]
    rows = [json.loads(l) for l in open(raw)]
    peer = {}
    for r in rows:
        if r["engine"] == "llama.cpp":
            for x in r["results"]:
                test = f"pp{x['n_prompt']}" if x["n_gen"] == 0 else f"tg{x['n_gen']}"
                peer[(r["shape"], r["type"], test)] = x["avg_ts"]
    lines = ["| shape | type | weights GiB | test | joule t/s | llama.cpp t/s | joule / llama.cpp | joule GB/s | llama.cpp GB/s | probe GB/s |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    prov = None
    for r in rows:
        if r["engine"] != "joule":
            continue
        b = r["bench"]
        prov = b["provenance"]
        probe = max(b.get("read_bandwidth_gb_s_by_threads", {}).values(), default=float("nan"))
        for x in b["results"]:
            j = x["tokens_per_s_mean"]
            p = peer.get((r["shape"], r["type"], x["test"]), float("nan"))
            cells = [r["shape"], r["type"], f"{b['bytes_per_token'] / 2**30:.2f}", x["test"], f"{j:.2f}", f"{p:.2f}", f"{j / p:.2f}x"]
            if x["test"].startswith("tg"):
                cells += [f"{j * b['bytes_per_token'] / 1e9:.1f}", f"{p * b['bytes_per_token'] / 1e9:.1f}", f"{probe:.1f}"]
            else:
                cells += ["", "", ""]
            lines.append("| " + " | ".join(cells) + " |")
    head = (f"Made by `bench/shapes_7b.sh` on {prov['date']} (joule {prov['git_commit']}), CPU {prov['cpu']}, "
            f"joule kernels {prov['kernels']}; raw: `{raw}`.\n\n")
    open(out, "w").write(head + "\n".join(lines) + "\n")
    print(head + "\n".join(lines))


if __name__ == "__main__":
    main()
