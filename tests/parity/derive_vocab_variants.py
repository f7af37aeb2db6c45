#!/usr/bin/env python3
"""Derives metadata-only GGUF files from a gpt2/BPE model, one per tokenizer family, so the
tokenizer parity test can compare joule with llama.cpp on code paths the default model does not use.

    python3 tests/parity/derive_vocab_variants.py MODEL.gguf OUT_DIR

Writes OUT_DIR/vocab-<name>.gguf for <name> in:
  llama-bpe, qwen2, gpt-2, default,  the same vocab and merges under another tokenizer.ggml.pre
  bloom
                                     (add_bos_token removed, so each family's default applies)
  spm                                tokenizer.ggml.model "llama": the vocab rewritten as
                                     SentencePiece pieces (U+2581 for spaces, scores from the
                                     original order) with <0xXX> byte tokens and two control tokens
The files have no tensors; llama.cpp reads them with vocab_only. Needs the `gguf` package.
"""
import sys
from pathlib import Path

import gguf
from gguf import GGUFValueType as T

BPE_PRES = ["llama-bpe", "qwen2", "gpt-2", "default", "bloom"]


def gpt2_byte_decoder():
    """GPT-2 bytes_to_unicode, inverted: alphabet character -> byte."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = b
        else:
            chars[b] = 256 + extra
            extra += 1
    return {chr(c): b for b, c in chars.items()}


def write(path, fields, overrides, drop):
    w = gguf.GGUFWriter(str(path), fields["general.architecture"].contents())
    for key, f in fields.items():
        if key in drop or key in overrides or key == "general.architecture":
            continue
        if f.types[0] == T.ARRAY:
            w.add_key_value(key, f.contents(), T.ARRAY, sub_type=f.types[1])
        else:
            w.add_key_value(key, f.contents(), f.types[0])
    for key, (value, vtype, *sub) in overrides.items():
        w.add_key_value(key, value, vtype, sub_type=sub[0] if sub else None)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def spm_overrides(fields, n_vocab_key):
    decode = gpt2_byte_decoder()
    tokens = fields["tokenizer.ggml.tokens"].contents()
    types = fields["tokenizer.ggml.token_type"].contents()
    pieces = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), "<|im_start|>",
              "<|im_end|>"]
    piece_types = [2, 3, 3] + [6] * 256 + [3, 3]
    scores = [0.0] * len(pieces)
    seen = set(pieces)
    for i, t in enumerate(tokens):
        if types[i] != 1:
            continue
        try:
            text = bytes(decode[c] for c in t).decode("utf-8").replace(" ", "\u2581")
        except (KeyError, UnicodeDecodeError):
            continue  # a token that is part of a UTF-8 sequence: SentencePiece uses byte tokens
        if text not in seen:
            seen.add(text)
            pieces.append(text)
            piece_types.append(1)
            scores.append(-float(i))  # earlier (more frequent) tokens merge first
    return {
        "tokenizer.ggml.model": ("llama", T.STRING),
        "tokenizer.ggml.tokens": (pieces, T.ARRAY, T.STRING),
        "tokenizer.ggml.token_type": (piece_types, T.ARRAY, T.INT32),
        "tokenizer.ggml.scores": (scores, T.ARRAY, T.FLOAT32),
        "tokenizer.ggml.bos_token_id": (1, T.UINT32),
        "tokenizer.ggml.eos_token_id": (2, T.UINT32),
        "tokenizer.ggml.unknown_token_id": (0, T.UINT32),
        n_vocab_key: (len(pieces), T.UINT32),
    }


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = {k: f for k, f in gguf.GGUFReader(model).fields.items() if not k.startswith("GGUF.")}
    for pre in BPE_PRES:
        path = out_dir / f"vocab-{pre}.gguf"
        write(path, fields, {"tokenizer.ggml.pre": (pre, T.STRING)},
              drop={"tokenizer.ggml.add_bos_token"})
        print(path)
    arch = fields["general.architecture"].contents()
    path = out_dir / "vocab-spm.gguf"
    write(path, fields, spm_overrides(fields, f"{arch}.vocab_size"),
          drop={"tokenizer.ggml.pre", "tokenizer.ggml.merges", "tokenizer.ggml.add_space_prefix",
                "tokenizer.ggml.add_bos_token", "tokenizer.ggml.padding_token_id"})
    print(path)


if __name__ == "__main__":
    main()
