#!/usr/bin/env bash
# Every precision on the default model, measured in one run: perplexity, KL divergence and top-1
# agreement against f32 (joule perplexity), weight size, prefill and decode speed with energy
# (joule bench). Writes docs/precision-results.md (raw JSON lines in bench/results/).
#
#   bench/precisions.sh [-r REPS] [-t 1,2] [--chunks 4] [--precisions f32,q8_0,...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REPS=3; THREADS=1,2; CHUNKS=4
PRECS=f32,f16,bf16,q8_0,int8,int8-dynamic,q4_0,q4_1,int4-g128,int4-g128-zp,q4_k,q6_k,sparse-2:4
while (($#)); do
  case "$1" in
    -r) REPS="$2"; shift 2 ;;
    -t) THREADS="$2"; shift 2 ;;
    --chunks) CHUNKS="$2"; shift 2 ;;
    --precisions) PRECS="$2"; shift 2 ;;
    *) echo "precisions.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
JOULE=build/tools/joule
BASE=models/SmolLM2-135M-Instruct.Q4_1.gguf
DATA="${JOULE_DATA_DIR:-$ROOT/data}"
OUT=bench/results
mkdir -p "$OUT"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$OUT/precisions-$STAMP.jsonl"
TEXT="${JOULE_BUILD_DIR:-$ROOT/build}/gsm8k_test.txt"  # derived from the shared data: not committed
python3 - "$DATA/gsm8k/test.jsonl" "$TEXT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
open(sys.argv[2], "w").write("\n\n".join(r["question"] + "\n" + r["answer"] for r in rows))
PY
: >"$RAW"
NT="$(nproc)"
for p in ${PRECS//,/ }; do
  echo "[precisions] perplexity $p" >&2
  "$JOULE" perplexity -m "$BASE" -f "$TEXT" --ctx 512 --chunks "$CHUNKS" -t "$NT" --precision "$p" \
    --kl-ref f32 --json 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); d["kind"]="perplexity"; print(json.dumps(d))' >>"$RAW"
done
echo "[precisions] bench $PRECS" >&2
"$JOULE" bench -m "$BASE" --precision "$PRECS" -p 512 -n 64 -t "$THREADS" -r "$REPS" --json 2>/dev/null \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); d["kind"]="bench"; print(json.dumps(d))' >>"$RAW"
python3 bench/write_precisions_md.py "$RAW" docs/precision-results.md
echo "[precisions] wrote docs/precision-results.md (raw: $RAW)" >&2
