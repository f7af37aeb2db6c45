#!/usr/bin/env python3
"""Reference token ids from Hugging Face's tokenizers package, in peer_tokenize.py's format, for
the TokenizerParity test on a GGUF converted from a folder (joule convert DIR OUT.gguf).

    LLAMA_CPP_LIB_PATH=$PEER/build/bin $PEER/venv/bin/python tests/parity/hf_tokenize.py \\
        CONVERTED.gguf TOKENIZER.json CORPUS.jsonl OUT.jsonl

Where a folder's tokenizer does what llama.cpp does not (Qwen2's NFC normalizer), joule follows
the folder, so the folder's own tokenizer is the reference. The header's vocabulary facts (bos,
eos, end-of-generation and control ids) come from llama.cpp on CONVERTED, as in peer_tokenize.py.
Rows: the corpus strings and each one's NFD form, except those holding an added token's text
(Hugging Face always parses those, so there is no plain reference) or a token llama.cpp makes a
control token, and those where the two Unicode versions disagree: a code point unassigned in the
Unicode tables of this Python (14.0, as the tokenizers package's) next to a combining mark, which
ICU (Unicode 15) may give a combining class and reorder (U+1E4EF, Nag Mundari, is one); ids_special = ids_plain = the tokenizers package's ids; "decoded" is its decode of
them (the NFC text where the tokenizer normalizes).
"""
import json
import sys
import unicodedata
from pathlib import Path

import llama_cpp
import tokenizers
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_tokenize import vocab_header  # noqa: E402


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    gguf_path, tokenizer_json, corpus, out = sys.argv[1:]
    hf = Tokenizer.from_file(tokenizer_json)
    llm = llama_cpp.Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    header = vocab_header(llm, gguf_path, "tokenizers " + tokenizers.__version__)
    control = header["control"]
    avoid = {t.content for t in hf.get_added_tokens_decoder().values()}
    avoid |= {hf.id_to_token(i) for i in control if hf.id_to_token(i)}
    texts = [json.loads(line)["text"] for line in open(corpus, encoding="utf-8")]
    def versions_disagree(text):
        for a, b in zip(text, text[1:]):
            if (unicodedata.category(a) == "Cn" and unicodedata.combining(b)) or \
               (unicodedata.combining(a) and unicodedata.category(b) == "Cn"):
                return True
        return False

    rows, skipped = [], 0
    for text in texts + [unicodedata.normalize("NFD", t) for t in texts]:
        if any(a in text for a in avoid):
            continue
        if versions_disagree(text):
            skipped += 1
            continue
        ids = hf.encode(text, add_special_tokens=False).ids
        decoded = hf.decode(ids, skip_special_tokens=False)
        rows.append({"text": text, "ids_special": ids, "ids_plain": ids, "decoded": decoded,
                     "detok_hex": decoded.encode("utf-8").hex()})
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for r in rows:
            f.write(json.dumps(r) + "\n")
    changed = sum(r["decoded"] != r["text"] for r in rows)
    print(f"[hf_tokenize] {len(rows)} reference tokenizations ({changed} whose text the tokenizer normalizes) to {out}; "
          f"{skipped} left out where Unicode {unicodedata.unidata_version} and ICU's newer tables may order marks "
          "differently", file=sys.stderr)


if __name__ == "__main__":
    main()
