#!/usr/bin/env bash
# Tokenizer parity with llama.cpp (the peer built by scripts/setup_peer.sh): writes the corpus and
# llama.cpp's reference ids under BUILD_DIR/parity/ and runs the C++ parity test on them.
#
#   tests/parity/run_tokenizer_parity.sh BUILD_DIR [MODEL]
#
# MODEL defaults to models/SmolLM2-135M-Instruct.Q4_1.gguf. The check also runs on vocab variants
# derived from MODEL (other pre-tokenizers and a SentencePiece vocab; see
# derive_vocab_variants.py) and, without MODEL, on the real Qwen2.5 (qwen2 byte-level BPE) and
# Gemma 3 (262k SentencePiece) vocabularies (scripts/fetch_model.sh). Exits non-zero if any
# check fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:?usage: $0 BUILD_DIR [MODEL]}" && pwd)
MODEL=$(realpath "${2:-$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf}")
TEST_BIN=$BUILD/tests/test_tokenizer
OUT=$BUILD/parity
log() { echo "[tokenizer parity] $*" >&2; }

[[ -x $TEST_BIN ]] || { log "missing $TEST_BIN: build the test_tokenizer target first"; exit 1; }
[[ -f $MODEL ]] || { log "missing $MODEL: scripts/fetch_model.sh fetches it"; exit 1; }
PEER=$("$ROOT/scripts/setup_peer.sh")
mkdir -p "$OUT"
python3 "$ROOT/tests/parity/tokenizer_corpus.py" "$OUT/tokenizer_corpus.jsonl"

# check MODEL NAME: reference ids from llama.cpp, then the gtest against them.
check() {
  local ref=$OUT/tokenizer_ref_$2.jsonl
  log "$2: $1"
  LLAMA_CPP_LIB_PATH=$PEER/build/bin "$PEER/venv/bin/python" "$ROOT/tests/parity/peer_tokenize.py" \
    "$1" "$OUT/tokenizer_corpus.jsonl" "$ref"
  JOULE_TOKENIZER_REF=$ref "$TEST_BIN" --gtest_filter='TokenizerParity.*'
}

status=0
check "$MODEL" model || status=1
# The peer's venv has gguf-py (scripts/setup_peer.sh), used to derive the vocab variants.
"$PEER/venv/bin/python" "$ROOT/tests/parity/derive_vocab_variants.py" "$MODEL" "$OUT/variants" >/dev/null
for f in "$OUT"/variants/vocab-*.gguf; do
  name=$(basename "$f" .gguf)
  check "$f" "$name" || status=1
done
if [[ -z ${2:-} ]]; then
  for m in qwen2.5-coder-0.5b gemma3-270m; do
    check "$("$ROOT/scripts/fetch_model.sh" "$m")" "$m" || status=1
  done
fi
if [[ $status -eq 0 ]]; then log "all checks passed"; else log "FAILED"; fi
exit $status
