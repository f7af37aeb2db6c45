#!/usr/bin/env bash
# Makes llama.cpp reference data for the model parity tests in OUT_DIR:
#   model_ref_q4_1.json  the default model (SmolLM2-135M-Instruct, Q4_1)
#   model_ref_f16.json   the same weights re-encoded as f16 by `joule quantize` (also proves that
#                        llama.cpp loads a GGUF written by joule)
#   model_ref_qwen2.json Qwen2.5-Coder-0.5B-Instruct Q4_K_M (real qwen2 weights; Q4_K, Q5_0, Q6_K,
#                        Q8_0), fetched here by scripts/fetch_model.sh (469 MiB, once)
#   model_ref_gemma3.json Gemma 3 270M Q4_K_M (gemma3), likewise (241 MiB)
#   model_ref_bloom.json, model_ref_mistral.json  small random-weight bloom and mistral-style
#                        models written in llama.cpp's layout by make_random_arch.py (gguf-py)
# Existing files are reused. Needs the model (scripts/fetch_model.sh) and the peer, which it
# builds on first use (scripts/setup_peer.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:?usage: make_refs.sh OUT_DIR JOULE_BINARY}"
JOULE="${2:?usage: make_refs.sh OUT_DIR JOULE_BINARY}"
MODEL="$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf"
DATA="${JOULE_DATA_DIR:-$ROOT/data}"
[[ -f "$MODEL" ]] || { echo "make_refs: model $MODEL missing (scripts/fetch_model.sh)" >&2; exit 1; }
[[ -d "$DATA" ]] || { echo "make_refs: dataset dir $DATA missing" >&2; exit 1; }
PEER="$("$ROOT/scripts/setup_peer.sh")"
export LLAMA_CPP_LIB_PATH="$PEER/build/bin"
mkdir -p "$OUT"

reference() {  # reference MODEL NAME
  local out="$OUT/model_ref_$2.json"
  [[ -s "$out" ]] && return 0
  "$PEER/venv/bin/python" "$ROOT/tests/parity/peer_logits.py" "$1" "$DATA" "$out.tmp" \
    2>"$OUT/peer_logits_$2.log" || { tail -20 "$OUT/peer_logits_$2.log" >&2; exit 1; }
  mv "$out.tmp" "$out"
}

reference "$MODEL" q4_1
F16="$OUT/SmolLM2-135M-Instruct.f16.gguf"
[[ -s "$F16" ]] || "$JOULE" quantize "$MODEL" "$F16" --type f16
reference "$F16" f16
QWEN="$("$ROOT/scripts/fetch_model.sh" qwen2.5-coder-0.5b)"
reference "$QWEN" qwen2
GEMMA="$("$ROOT/scripts/fetch_model.sh" gemma3-270m)"
reference "$GEMMA" gemma3
for arch in bloom mistral; do
  tiny="$OUT/random-tiny-$arch.gguf"
  [[ -s "$tiny" ]] || "$PEER/venv/bin/python" "$ROOT/tests/parity/make_random_arch.py" "$arch" "$MODEL" "$tiny"
  reference "$tiny" "$arch"
done
echo "make_refs: references in $OUT"
