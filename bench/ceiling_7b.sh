#!/usr/bin/env bash
# Decode against the bandwidth ceiling where the ceiling binds: random-weight Llama-2-7B-shaped
# models (joule init-random, 3.5-7 GiB, far larger than any CPU cache), one per type, decode of
# N tokens at each thread count. Prints one JSON line per type (joule bench --json) to stdout.
#
#   bench/ceiling_7b.sh [-n 16] [-t 1,2] [-r 2] [--types q4_0,q4_1,...] [--dir DIR]
# The models (several GiB each) are kept in DIR (default models/random) for reruns.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N=16; THREADS=1,2; REPS=2; TYPES=q8_0,int8,int8-dynamic,q4_0,q4_1,int4-g128,int4-g128-zp,q4_k,q6_k; DIR=models/random
while (($#)); do
  case "$1" in
    -n) N="$2"; shift 2 ;;
    -t) THREADS="$2"; shift 2 ;;
    -r) REPS="$2"; shift 2 ;;
    --types) TYPES="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    *) echo "ceiling_7b.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
JOULE=build/tools/joule
mkdir -p "$DIR"
for t in ${TYPES//,/ }; do
  f="$DIR/llama-2-7b.$t.gguf"
  [[ -s "$f" ]] || "$JOULE" init-random "$f" --shape llama-2-7b --type "$t" >&2
  "$JOULE" bench -m "$f" -p 0 -n "$N" -t "$THREADS" -r "$REPS" --no-energy --json 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); d["type"]=sys.argv[1]; print(json.dumps(d))' "$t"
  # One model on disk at a time unless asked to keep them: 7B files are large.
  [[ -n "${KEEP_MODELS:-}" ]] || rm -f "$f"
done
