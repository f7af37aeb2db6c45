#!/usr/bin/env bash
# Log-likelihood scoring throughput against plain prefill, in one run on a quiet machine: joule
# bench's prefill (pp64, pp128) of the default model, then `joule eval --task hellaswag` on N items
# at the same threads. Prints the paragraph docs/benchmarks.md quotes; raw JSON lines in
# bench/results/eval-throughput-*.jsonl.
#
#   bench/eval_throughput.sh [N=1000] [THREADS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${1:-1000}"; T="${2:-$(nproc)}"
JOULE=build/tools/joule
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
RAW="bench/results/eval-throughput-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
mkdir -p bench/results
"$JOULE" bench -m "$MODEL" -p 64,128 -n 0 -r 3 -t "$T" --json 2>/dev/null \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); d["kind"]="prefill"; print(json.dumps(d))' >>"$RAW"
"$JOULE" eval -m "$MODEL" --task hellaswag --limit "$N" -t "$T" --json 2>/dev/null \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); d["kind"]="eval"; print(json.dumps(d))' >>"$RAW"
python3 - "$RAW" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pp = {x["test"]: x["tokens_per_s_mean"] for x in rows[0]["results"]}
t = rows[1]["tasks"][0]
prefill_s = t["tokens"] / pp["pp64"]
print(f"HellaSwag, first {t['items']} items, {rows[1]['threads']} threads ({rows[1]['provenance']['git_commit']}): "
      f"{t['seconds']:.1f} s for {t['tokens']} tokens evaluated ({t['tokens_per_s']:.0f} tok/s, logits at every "
      f"continuation position). Plain prefill in the same run: pp64 {pp['pp64']:.0f} tok/s, pp128 {pp['pp128']:.0f} "
      f"tok/s, so these tokens' prefill time is {prefill_s:.1f} s and scoring took {t['seconds'] / prefill_s:.2f}x it. "
      f"Scoring each (context, ending) whole would evaluate {t['tokens_without_prefix_reuse']} tokens "
      f"({t['tokens_without_prefix_reuse'] / t['tokens']:.2f}x as many). Raw: `{sys.argv[1]}`.")
PY
