#!/usr/bin/env bash
# GGUF files written by `joule quantize` load in llama.cpp, and joule's perplexity on them is
# within MAX_REL of llama-perplexity's: same text (GSM8K test questions and answers), same
# chunking (--ctx 512, 4 chunks). Results go to OUT_DIR/quantized_ppl.json. MAX_REL is 0.5 % for
# the types measured so on AVX-512, and 1 % elsewhere: on AVX2, and for q5_0, q5_1 and the k-quants
# q2_k, q3_k, q5_k, whose kernels sum in joule's own order (their dot products equal ggml's up to
# that order: the quant_parity test). 1 % is llama.cpp's agreement with itself, as the _OWN_ORDER
# bounds of the model parity test (docs/parity.md); SmolLM2 with 2-3-bit matrices is the most
# sensitive case (q3_k: joule's own scalar, AVX2 and AVX-512 results spread 0.3 %).
#   quantized_ppl.sh OUT_DIR JOULE_BINARY [TYPES...]
# Default types: q8_0 q4_0 q4_1 bf16 q6_k q5_k q3_k q2_k. The k-quants apply where rows are
# multiples of 256 (SmolLM2's ffn_down); other matrices take their fallback (q4_0, q5_1, q8_0).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:?usage: quantized_ppl.sh OUT_DIR JOULE_BINARY [TYPES...]}"
JOULE="${2:?usage: quantized_ppl.sh OUT_DIR JOULE_BINARY [TYPES...]}"
shift 2
TYPES=("$@")
((${#TYPES[@]})) || TYPES=(q8_0 q4_0 q4_1 bf16 q6_k q5_k q3_k q2_k)
KERNELS="$("$JOULE" info --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["machine"]["kernels"])')"
max_rel() {  # max_rel TYPE
  if [[ -n "${JOULE_PPL_MAX_REL:-}" ]]; then echo "$JOULE_PPL_MAX_REL"; return; fi
  case "$KERNELS:$1" in
    avx512:q5_0 | avx512:q5_1 | avx512:q2_k | avx512:q3_k | avx512:q5_k) echo 0.01 ;;
    avx512:*) echo 0.005 ;;
    *) echo 0.01 ;;
  esac
}
MODEL="$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf"
DATA="${JOULE_DATA_DIR:-$ROOT/data}"
[[ -f "$MODEL" ]] || { echo "quantized_ppl: model $MODEL missing (scripts/fetch_model.sh)" >&2; exit 1; }
PEER="$("$ROOT/scripts/setup_peer.sh")"
mkdir -p "$OUT"
TEXT="$OUT/gsm8k_test.txt"
python3 - "$DATA/gsm8k/test.jsonl" "$TEXT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
open(sys.argv[2], "w").write("\n\n".join(r["question"] + "\n" + r["answer"] for r in rows))
PY
THREADS="$(nproc)"
RESULTS="$OUT/quantized_ppl.jsonl"
: >"$RESULTS"
fail=0
for t in "${TYPES[@]}"; do
  f="$OUT/SmolLM2-135M-Instruct.$t.gguf"
  "$JOULE" quantize "$MODEL" "$f" --type "$t" --allow-requantize 2>"$OUT/quantize_$t.log"
  LD_LIBRARY_PATH="$PEER/build/bin" "$PEER/build/bin/llama-perplexity" -m "$f" -f "$TEXT" -c 512 \
    --chunks 4 -t "$THREADS" >"$OUT/llama_ppl_$t.log" 2>&1 || { tail -20 "$OUT/llama_ppl_$t.log" >&2; exit 1; }
  peer=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' "$OUT/llama_ppl_$t.log")
  [[ -n "$peer" ]] || { echo "quantized_ppl: no PPL in $OUT/llama_ppl_$t.log" >&2; exit 1; }
  "$JOULE" perplexity -m "$f" -f "$TEXT" --ctx 512 --chunks 4 -t "$THREADS" --no-energy --json \
    >"$OUT/joule_ppl_$t.json" 2>/dev/null
  python3 - "$t" "$peer" "$OUT/joule_ppl_$t.json" "$(max_rel "$t")" "$RESULTS" <<'PY' || fail=1
import json, sys
t, peer, path, max_rel, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
joule = json.load(open(path))["perplexity"]
rel = joule / peer - 1
ok = abs(rel) <= max_rel
print(f"[quantized_ppl] {t}: joule {joule:.4f}, llama.cpp {peer:.4f} ({100 * rel:+.3f} %) {'ok' if ok else 'FAIL'}")
open(out, "a").write(json.dumps({"type": t, "joule": joule, "llama_cpp": peer, "rel": rel, "ok": ok}) + "\n")
sys.exit(0 if ok else 1)
PY
done
exit $fail
