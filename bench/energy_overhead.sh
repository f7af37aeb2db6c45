#!/usr/bin/env bash
# The energy sampler's cost: joule bench with energy off, at 10 Hz and at 100 Hz, interleaved
# over several rounds on the default model, plus the sampler thread's own CPU time. Prints a
# markdown table (docs/benchmarks.md quotes it) and keeps the raw JSON in bench/results/.
#
#   bench/energy_overhead.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
JOULE=build/tools/joule
RAW="bench/results/energy-overhead-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
mkdir -p bench/results
for round in $(seq "$ROUNDS"); do
  for mode in off 10 100; do
    if [[ $mode == off ]]; then flags=(--no-energy); else flags=(--sample-hz "$mode"); fi
    "$JOULE" bench -p 512 -n 64 -t 2 -r 3 "${flags[@]}" --json 2>/dev/null \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); d["mode"]=sys.argv[1]; d["round"]=int(sys.argv[2]); print(json.dumps(d))' "$mode" "$round" >>"$RAW"
    echo "[energy-overhead] round $round, $mode done" >&2
  done
done
python3 - "$RAW" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"Raw: `{sys.argv[1]}`\n")
print("| sampler | pp512 tok/s | tg64 tok/s | sampler thread CPU, share of one core |")
print("| --- | ---: | ---: | ---: |")
for mode in ["off", "10", "100"]:
    rs = [r for r in rows if r["mode"] == mode]
    t = {k: statistics.mean(x["tokens_per_s_mean"] for r in rs for x in r["results"] if x["test"] == k) for k in ["pp512", "tg64"]}
    share = "-" if mode == "off" else f'{100 * statistics.mean(r["energy_sources"]["sampler_cpu_share"] for r in rs):.3f} %'
    print(f"| {'off' if mode == 'off' else mode + ' Hz'} | {t['pp512']:.1f} | {t['tg64']:.1f} | {share} |")
PY
