#!/usr/bin/env python3
"""Reference token ids from llama.cpp (the peer) for the tokenizer parity test.

    LLAMA_CPP_LIB_PATH=$PEER/build/bin $PEER/venv/bin/python tests/parity/peer_tokenize.py \\
        MODEL.gguf CORPUS.jsonl OUT.jsonl

OUT starts with a header object (peer version, model path, vocab facts: bos, eos, add_bos, the ids
llama.cpp treats as end of generation and as control tokens), then one object per corpus string:
  {"text": ..., "ids_special": [...], "ids_plain": [...], "detok_hex": "..."}
ids_special / ids_plain: llama_tokenize without BOS/EOS, with parse_special true / false.
detok_hex: llama_detokenize(ids_plain, remove_special=false, unparse_special=false), hex-encoded
(the bytes need not be valid UTF-8 in general).
"""
import ctypes
import json
import sys
from pathlib import Path

import llama_cpp


def detokenize(vocab, ids):
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    size = 64 + 16 * len(ids)
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, size, False, False)
        if n >= 0:
            return buf.raw[:n]
        size = -n


def vocab_header(llm, model, peer):
    """The reference file's first line: who tokenized, the model, and llama.cpp's vocabulary facts."""
    vocab = llm._model.vocab
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    return {
        "peer": peer,
        "model": str(Path(model).resolve()),
        "n_vocab": n_vocab,
        "bos": llama_cpp.llama_vocab_bos(vocab),
        "eos": llama_cpp.llama_vocab_eos(vocab),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "eog": [i for i in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, i)],
        "control": [i for i in range(n_vocab) if llama_cpp.llama_vocab_is_control(vocab, i)],
    }


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model, corpus, out = sys.argv[1:]
    llm = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
    vocab = llm._model.vocab
    header = vocab_header(llm, model, f"llama-cpp-python {llama_cpp.__version__}")
    texts = [json.loads(line)["text"] for line in open(corpus, encoding="utf-8")]
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for text in texts:
            data = text.encode("utf-8")
            plain = llm.tokenize(data, add_bos=False, special=False)
            row = {
                "text": text,
                "ids_special": llm.tokenize(data, add_bos=False, special=True),
                "ids_plain": plain,
                "detok_hex": detokenize(vocab, plain).hex(),
            }
            f.write(json.dumps(row) + "\n")
    print(f"wrote {len(texts)} reference tokenizations to {out}")


if __name__ == "__main__":
    main()
