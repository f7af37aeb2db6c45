#!/usr/bin/env bash
# Hugging Face folders made from the default model (llama), Qwen2.5-Coder-0.5B (qwen2), Gemma 3
# 270M (gemma3, with its 262k SentencePiece vocabulary) and a random-weight bloom
# (make_random_arch.py; BloomForCausalLM's names and per-head fused QKV) with Hugging Face's own libraries
# (make_hf_folder.py: two F16 safetensors shards with an index, config.json, a tokenizer.json built
# with the tokenizers package) run in joule and convert to GGUFs llama.cpp agrees with; for each:
#   1. `joule perplexity -m DIR` equals `joule perplexity` on the same weights as an f16 GGUF
#      (`joule quantize --type f16`) to every printed digit: the folder's logits are the file's;
#   2. greedy generations from the folder equal the f16 file's;
#   3. the converted GGUF's tokenizer gives the tokenizers package's ids on the tokenizer parity
#      corpus (>= 1,000 strings) in llama.cpp, the same ids as the original GGUF in llama.cpp, and
#      llama.cpp's ids in joule (the TokenizerParity test); Qwen2's folder NFC-normalizes as the
#      real one does, which llama.cpp does not: there joule is compared with the tokenizers
#      package itself, on the corpus and its NFD forms;
#   4. llama-perplexity on the converted GGUF is within 0.5 % of joule's on it (the Q/K layout is
#      llama.cpp's).
# Gemma's tokenizer.json is SentencePiece-style BPE (byte fallback), built as transformers converts
# SentencePiece models (make_hf_spm_folder.py). One more with a space prefix (Llama 2 / Mistral
# style) made from the spm vocabulary variant of the default model (derive_vocab_variants.py): llama.cpp gives the same ids on the original and the converted
# GGUF, and joule llama.cpp's. (That synthetic vocabulary has pieces such as "▁Æ" without their
# characters, which Hugging Face's BPE cannot reach: 8 corpus strings differ there, so it is not
# compared with the tokenizers package; real SentencePiece vocabularies hold their characters.)
#   hf_folder_test.sh OUT_DIR BUILD_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:?usage: hf_folder_test.sh OUT_DIR BUILD_DIR}"
BUILD="$(cd "${2:?usage: hf_folder_test.sh OUT_DIR BUILD_DIR}" && pwd)"
JOULE="$BUILD/tools/joule"
DATA="${JOULE_DATA_DIR:-$ROOT/data}"
PEER="$("$ROOT/scripts/setup_peer.sh")"
PY="$PEER/venv/bin/python"
log() { echo "[hf_folder] $*" >&2; }
mkdir -p "$OUT"
TEXT="$OUT/gsm8k_test.txt"
python3 - "$DATA/gsm8k/test.jsonl" "$TEXT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
open(sys.argv[2], "w").write("\n\n".join(r["question"] + "\n" + r["answer"] for r in rows))
PY
python3 "$ROOT/tests/parity/tokenizer_corpus.py" "$OUT/tokenizer_corpus.jsonl"
export JOULE_CACHE_DIR="$OUT/cache"
ppl() { "$JOULE" perplexity -m "$1" -f "$TEXT" --ctx 512 --chunks 4 --no-energy --json 2>/dev/null \
        | python3 -c 'import json,sys; print(repr(json.load(sys.stdin)["perplexity"]))'; }
gen() { "$JOULE" run -m "$1" -p "The capital of France is" -n 32 --temp 0 --no-energy 2>/dev/null; }

# hf_vs_llama NAME TOKENIZER_JSON GGUF [ORIGINAL_GGUF]: the tokenizers package against llama.cpp on
# GGUF over the corpus (and llama.cpp on ORIGINAL_GGUF against GGUF); only strings holding a token
# llama.cpp overrides to control may differ.
hf_vs_llama() {
  LLAMA_CPP_LIB_PATH="$PEER/build/bin" "$PY" - "$@" "$OUT/tokenizer_corpus.jsonl" <<'PY'
import json, sys
import llama_cpp
from tokenizers import Tokenizer
name, tokenizer_json, converted = sys.argv[1:4]
original = sys.argv[4] if len(sys.argv) > 5 else None
hf = Tokenizer.from_file(tokenizer_json)
llm = llama_cpp.Llama(model_path=converted, vocab_only=True, verbose=False)
vocab = llm._model.vocab
# llama.cpp makes a few end-of-generation texts control tokens even where the vocabulary has them as
# normal tokens ("control-looking token ... its type will be overridden"), so it splits them out of
# text that Hugging Face's tokenizer merges as ordinary BPE. Strings holding such a token are the
# only differences allowed; every other string must tokenize identically.
added = {t.content for t in hf.get_added_tokens_decoder().values()}
overridden = [hf.id_to_token(i) for i in range(hf.get_vocab_size(with_added_tokens=False))
              if llama_cpp.llama_vocab_get_attr(vocab, i) & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
              and hf.id_to_token(i) not in added]
# A tokenizer that NFC-normalizes (Qwen2's) differs from llama.cpp, which does not normalize, on
# text that is not in NFC; joule follows the folder there (checked against the tokenizers package).
import unicodedata
nfc = '"NFC"' in open(tokenizer_json, encoding="utf-8").read()
texts = [json.loads(l)["text"] for l in open(sys.argv[-1])]
same = explained = unnormalized = 0
for t in texts:
    ids = llm.tokenize(t.encode(), add_bos=False, special=True)
    if hf.encode(t, add_special_tokens=False).ids == ids:
        same += 1
    elif any(o in t for o in overridden):
        explained += 1
    elif nfc and unicodedata.normalize("NFC", t) != t:
        unnormalized += 1
print(f"[hf_folder] {name}: tokenizers package vs llama.cpp on the converted GGUF: {same} / {len(texts)} strings "
      f"identical, {explained} differ only by llama.cpp's control override of {overridden}"
      + (f", {unnormalized} only because llama.cpp does not NFC-normalize" if nfc else ""), file=sys.stderr)
explained += unnormalized
ok = same + explained == len(texts) and same >= 1000
if original:
    orig = llama_cpp.Llama(model_path=original, vocab_only=True, verbose=False)
    rt = sum(orig.tokenize(t.encode(), add_bos=False, special=True) == llm.tokenize(t.encode(), add_bos=False, special=True)
             for t in texts)
    print(f"[hf_folder] {name}: llama.cpp on the original GGUF vs on the converted one: {rt} / {len(texts)} identical",
          file=sys.stderr)
    ok = ok and rt == len(texts)
sys.exit(0 if ok else 1)
PY
}

# joule_vs_llama NAME GGUF: joule's tokenizer against llama.cpp's on GGUF (the TokenizerParity test).
joule_vs_llama() {
  LLAMA_CPP_LIB_PATH="$PEER/build/bin" "$PY" "$ROOT/tests/parity/peer_tokenize.py" "$2" \
    "$OUT/tokenizer_corpus.jsonl" "$OUT/tokenizer_ref_$1.jsonl" 2>/dev/null
  JOULE_TOKENIZER_REF="$OUT/tokenizer_ref_$1.jsonl" "$BUILD/tests/test_tokenizer" --gtest_filter='TokenizerParity.*' \
    >"$OUT/tokenizer_parity_$1.log" 2>&1 && log "$1: joule's tokenizer on the converted GGUF equals llama.cpp's" \
    || { tail -20 "$OUT/tokenizer_parity_$1.log" >&2; return 1; }
}

# joule_vs_hf NAME GGUF TOKENIZER_JSON: joule's tokenizer on GGUF against the tokenizers package on
# the folder's tokenizer.json, over the corpus and its NFD forms (the TokenizerParity test with
# hf_tokenize.py's reference), for tokenizers that normalize where llama.cpp does not.
joule_vs_hf() {
  LLAMA_CPP_LIB_PATH="$PEER/build/bin" "$PY" "$ROOT/tests/parity/hf_tokenize.py" "$2" "$3" \
    "$OUT/tokenizer_corpus.jsonl" "$OUT/tokenizer_hf_$1.jsonl"
  JOULE_TOKENIZER_REF="$OUT/tokenizer_hf_$1.jsonl" "$BUILD/tests/test_tokenizer" --gtest_filter='TokenizerParity.*' \
    >"$OUT/tokenizer_parity_hf_$1.log" 2>&1 \
    && log "$1: joule's tokenizer on the converted GGUF equals the tokenizers package's (NFC included)" \
    || { tail -20 "$OUT/tokenizer_parity_hf_$1.log" >&2; return 1; }
}

# check NAME GGUF: the folder made from GGUF against GGUF's weights as f16, llama.cpp and tokenizers.
check() {
  local name="$1" model="$2" status=0
  local dir="$OUT/$name-hf" f16="$OUT/$name.f16.gguf" converted="$OUT/$name-hf.gguf"
  # The folder's own conversion cache (`-m DIR`), so that it goes with the folder below.
  local -x JOULE_CACHE_DIR="$OUT/cache/$name"
  [[ -s "$dir/config.json" ]] || "$PY" "$ROOT/tests/parity/make_hf_folder.py" "$model" "$dir"
  [[ -s "$f16" ]] || "$JOULE" quantize "$model" "$f16" --type f16 --allow-requantize 2>/dev/null
  "$JOULE" convert "$dir" "$converted" 2>"$OUT/convert_$name.log"
  local folder_ppl file_ppl converted_ppl
  folder_ppl=$(ppl "$dir"); file_ppl=$(ppl "$f16"); converted_ppl=$(ppl "$converted")
  log "$name perplexity: folder $folder_ppl, f16 GGUF $file_ppl, converted GGUF $converted_ppl"
  [[ "$folder_ppl" == "$file_ppl" && "$converted_ppl" == "$file_ppl" ]] || { log "FAIL: perplexities differ"; status=1; }
  [[ "$(gen "$dir")" == "$(gen "$f16")" ]] && log "$name greedy generation: identical" \
    || { log "FAIL: $name greedy generations differ"; status=1; }

  hf_vs_llama "$name" "$dir/tokenizer.json" "$converted" "$model" || status=1
  if grep -q '"NFC"' "$dir/tokenizer.json"; then
    joule_vs_hf "$name" "$converted" "$dir/tokenizer.json" || status=1
  else
    joule_vs_llama "$name" "$converted" || status=1
  fi

  LD_LIBRARY_PATH="$PEER/build/bin" "$PEER/build/bin/llama-perplexity" -m "$converted" -f "$TEXT" -c 512 --chunks 4 \
    >"$OUT/llama_ppl_$name.log" 2>&1
  local peer
  peer=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' "$OUT/llama_ppl_$name.log")
  python3 - "$converted_ppl" "$peer" "$name" <<'PY' || status=1
import sys
joule, peer = float(sys.argv[1]), float(sys.argv[2])
rel = joule / peer - 1
print(f"[hf_folder] {sys.argv[3]} converted GGUF: joule {joule:.4f}, llama-perplexity {peer:.4f} ({100 * rel:+.3f} %)", file=sys.stderr)
sys.exit(0 if abs(rel) <= 0.005 else 1)
PY
  # A passed check's folder and GGUFs (2-5 GB for Qwen2.5) go at once, so the whole test never holds
  # more than one model's; a failed check keeps them for a look.
  [[ $status -ne 0 ]] || rm -rf "$dir" "$f16" "$converted" "$JOULE_CACHE_DIR"
  return $status
}

# spm_roundtrip NAME GGUF: the tokenizer.json made from GGUF converts back to the ids GGUF gives.
spm_roundtrip() {
  local name="$1" model="$2" status=0
  local dir="$OUT/$name-hf" converted="$OUT/$name-hf.gguf"
  [[ -s "$dir/tokenizer.json" ]] || "$PY" "$ROOT/tests/parity/make_hf_spm_folder.py" "$model" "$dir"
  "$JOULE" convert "$dir" "$converted" 2>"$OUT/convert_$name.log" || { tail -5 "$OUT/convert_$name.log" >&2; return 1; }
  LLAMA_CPP_LIB_PATH="$PEER/build/bin" "$PY" - "$name" "$model" "$converted" "$OUT/tokenizer_corpus.jsonl" <<'PY' || status=1
import json, sys
import llama_cpp
name, original, converted, corpus = sys.argv[1:5]
a = llama_cpp.Llama(model_path=original, vocab_only=True, verbose=False)
b = llama_cpp.Llama(model_path=converted, vocab_only=True, verbose=False)
texts = [json.loads(l)["text"] for l in open(corpus)]
same = sum(a.tokenize(t.encode(), add_bos=False, special=True) == b.tokenize(t.encode(), add_bos=False, special=True)
           for t in texts)
print(f"[hf_folder] {name}: llama.cpp on the original GGUF vs on the converted one: {same} / {len(texts)} identical",
      file=sys.stderr)
sys.exit(0 if same == len(texts) else 1)
PY
  joule_vs_llama "$name" "$converted" || status=1
  return $status
}

status=0
check SmolLM2-135M-Instruct "$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf" || status=1
check Qwen2.5-Coder-0.5B-Instruct "$("$ROOT/scripts/fetch_model.sh" qwen2.5-coder-0.5b)" || status=1
check gemma-3-270m "$("$ROOT/scripts/fetch_model.sh" gemma3-270m)" || status=1
BLOOM="$OUT/random-tiny-bloom.gguf"
[[ -s "$BLOOM" ]] || "$PY" "$ROOT/tests/parity/make_random_arch.py" bloom "$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf" "$BLOOM"
check random-tiny-bloom "$BLOOM" || status=1
"$PY" "$ROOT/tests/parity/derive_vocab_variants.py" "$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf" "$OUT/variants" >/dev/null
spm_roundtrip vocab-spm "$OUT/variants/vocab-spm.gguf" || status=1
exit $status
