#!/usr/bin/env bash
# Makes llama.cpp reference data for the parity tests: OUT_DIR/model_ref.json (logits, greedy
# generations) and OUT_DIR/tokenizer_ref.jsonl (token ids of a corpus). Reuses existing files
# made for the same model and peer.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:?usage: make_refs.sh OUT_DIR}"
MODEL="${JOULE_PARITY_MODEL:-$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
DATA="${JOULE_DATA_DIR:-$ROOT/../shared/data}"
[[ -f "$MODEL" ]] || { echo "make_refs: model $MODEL missing (scripts/fetch_model.sh)" >&2; exit 1; }
[[ -d "$DATA" ]] || { echo "make_refs: dataset dir $DATA missing" >&2; exit 1; }
PEER="$("$ROOT/scripts/setup_peer.sh")"
export LLAMA_CPP_LIB_PATH="$PEER/build/bin"
PY="$PEER/venv/bin/python"
mkdir -p "$OUT"
if [[ ! -s "$OUT/model_ref.json" ]]; then
  "$PY" "$ROOT/tests/parity/peer_logits.py" "$MODEL" "$DATA" "$OUT/model_ref.json.tmp" 2>"$OUT/peer_logits.log" \
    || { tail -20 "$OUT/peer_logits.log" >&2; exit 1; }
  mv "$OUT/model_ref.json.tmp" "$OUT/model_ref.json"
fi
echo "make_refs: references in $OUT"
