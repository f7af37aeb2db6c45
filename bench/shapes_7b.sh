#!/usr/bin/env bash
# The research's six 7B models as random-weight shapes (joule init-random), each at Q4_0 and Q8_0:
# prefill and decode tokens/s of joule and of llama.cpp's llama-bench on the same file, interleaved
# per file, with the decode bandwidth ceiling (measured read bandwidth / weight bytes per token).
# One JSON line per (shape, type, engine) in bench/results/shapes7b-STAMP.jsonl and a Markdown
# table in bench/results/shapes7b-STAMP.md (docs/benchmarks.md quotes it).
#
#   bench/shapes_7b.sh [-p 64] [-n 16] [-t 2] [-r 2] [--types q4_0,q8_0] [--shapes a,b,...]
# Models (4-8 GiB each) are written to models/random and deleted after their rows unless KEEP_MODELS=1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PP=64; TG=16; THREADS=2; REPS=2; TYPES=q4_0,q8_0
SHAPES=qwen2.5-7b,deepseek-r1-distill-qwen-7b,mistral-7b,neural-chat-7b,yi-6b,bloomz-7b1
while (($#)); do
  case "$1" in
    -p) PP="$2"; shift 2 ;;
    -n) TG="$2"; shift 2 ;;
    -t) THREADS="$2"; shift 2 ;;
    -r) REPS="$2"; shift 2 ;;
    --types) TYPES="$2"; shift 2 ;;
    --shapes) SHAPES="$2"; shift 2 ;;
    *) echo "shapes_7b.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
JOULE=build/tools/joule
PEER="$(scripts/setup_peer.sh)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="bench/results/shapes7b-$STAMP.jsonl"
mkdir -p models/random bench/results
: >"$RAW"
for shape in ${SHAPES//,/ }; do
  for type in ${TYPES//,/ }; do
    f="models/random/$shape.$type.gguf"
    [[ -s "$f" ]] || "$JOULE" init-random "$f" --shape "$shape" --type "$type" >&2
    echo "[shapes_7b] $shape $type: joule" >&2
    "$JOULE" bench -m "$f" -p "$PP" -n "$TG" -t "$THREADS" -r "$REPS" --no-energy --json 2>/dev/null \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"engine":"joule","shape":sys.argv[1],"type":sys.argv[2],"bench":d}))' "$shape" "$type" >>"$RAW"
    echo "[shapes_7b] $shape $type: llama.cpp" >&2
    LD_LIBRARY_PATH="$PEER/build/bin" "$PEER/build/bin/llama-bench" -m "$f" -p "$PP" -n "$TG" -t "$THREADS" -r "$REPS" -o json 2>/dev/null \
      | python3 -c 'import json,sys; print(json.dumps({"engine":"llama.cpp","shape":sys.argv[1],"type":sys.argv[2],"results":json.load(sys.stdin)}))' "$shape" "$type" >>"$RAW"
    [[ -n "${KEEP_MODELS:-}" ]] || rm -f "$f"
  done
done
python3 bench/write_shapes_md.py "$RAW" "${RAW%.jsonl}.md"
