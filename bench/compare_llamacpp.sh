#!/usr/bin/env bash
# joule vs llama.cpp on the same GGUF files, threads and machine, interleaved per (model, threads),
# written to docs/benchmarks.md (table + raw JSON in bench/results/).
#
#   bench/compare_llamacpp.sh [-r REPS] [-t 1,2] [-p 128,512] [-n 64] [--types q4_1,q8_0,q4_0,f16]
#
# Model variants of SmolLM2-135M shapes are made from the default Q4_1 file with
# `joule quantize` (their values are dequantized Q4_1 weights: fine for speed, which depends only
# on shapes and types). The decode ceiling is the measured read bandwidth / weight bytes per token.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REPS=5; THREADS=1,2; PP=128,512; TG=64; TYPES=q4_1,q8_0,q4_0,f16
while (($#)); do
  case "$1" in
    -r) REPS="$2"; shift 2 ;;
    -t) THREADS="$2"; shift 2 ;;
    -p) PP="$2"; shift 2 ;;
    -n) TG="$2"; shift 2 ;;
    --types) TYPES="$2"; shift 2 ;;
    *) echo "compare_llamacpp.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh --peer
PEER="$(scripts/setup_peer.sh)"
JOULE=build/tools/joule
BASE=models/SmolLM2-135M-Instruct.Q4_1.gguf
OUT=bench/results
mkdir -p "$OUT" models/variants
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$OUT/compare-$STAMP.jsonl"
: >"$RAW"

for type in ${TYPES//,/ }; do
  model="$BASE"
  if [[ "$type" != q4_1 ]]; then
    model="models/variants/SmolLM2-135M-Instruct.$type.gguf"
    [[ -f "$model" ]] || "$JOULE" quantize "$BASE" "$model" --type "$type" --allow-requantize
  fi
  for t in ${THREADS//,/ }; do
    echo "[compare] $type, $t thread(s): joule" >&2
    "$JOULE" bench -m "$model" -p "$PP" -n "$TG" -t "$t" -r "$REPS" --json \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); d["engine"]="joule"; d["type"]=sys.argv[1]; print(json.dumps(d))' "$type" >>"$RAW"
    echo "[compare] $type, $t thread(s): llama.cpp" >&2
    "$PEER/build/bin/llama-bench" -m "$model" -p "$PP" -n "$TG" -t "$t" -r "$REPS" -o json 2>/dev/null \
      | python3 -c 'import json,sys; print(json.dumps({"engine":"llama.cpp","type":sys.argv[1],"results":json.load(sys.stdin)}))' "$type" >>"$RAW"
  done
done
python3 bench/write_benchmarks_md.py "$RAW" docs/benchmarks.md
echo "[compare] wrote docs/benchmarks.md (raw: $RAW)" >&2

# Peak memory of a 512-token generation on the default model against the budget
# (file + KV cache + 64 MiB).
"$JOULE" run -m "$BASE" -p "Write a long story about a lighthouse keeper." -n 512 --temp 0 --json \
  | python3 bench/peak_rss_line.py docs/benchmarks.md
