#!/usr/bin/env python3
"""A Hugging Face folder whose tokenizer.json is a SentencePiece-style BPE (byte fallback) made
from a GGUF with a "llama" (SentencePiece) vocabulary, for the tokenizer checks of `joule convert`.

Usage: make_hf_spm_folder.py SPM_VOCAB.gguf OUT_DIR      (the peer's venv: gguf, numpy, tokenizers)

tokenizer.json is built with the tokenizers package as Hugging Face converts a SentencePiece BPE
model (transformers' SentencePieceExtractor): every piece that splits into two pieces gives a
merge, merges ordered by the piece's score; byte fallback, the unknown piece, control tokens as
special added tokens and user-defined ones as added tokens; the normalizer replaces spaces with
U+2581 and, where the GGUF adds a space prefix, prepends one. The weights are a tiny random llama
(one layer of width 64) with that vocabulary: only the tokenizer is under test.
"""
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from safetensors.numpy import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers

META = "\u2581"


def field(reader, key, default=None):
    if key not in reader.fields:
        return default
    f = reader.fields[key]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[-1]).decode()
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8", errors="replace") for i in f.data]
        return [f.parts[i][0].item() for i in f.data]
    return f.parts[f.data[0]][0].item()


def spm_tokenizer(r):
    """The tokenizers-package Tokenizer for the GGUF reader r's SentencePiece vocabulary, and the
    special-token part of its tokenizer_config.json."""
    assert field(r, "tokenizer.ggml.model") == "llama", "a SentencePiece (llama) vocabulary is expected"
    tokens = field(r, "tokenizer.ggml.tokens")
    scores = field(r, "tokenizer.ggml.scores")
    types = field(r, "tokenizer.ggml.token_type")
    add_prefix = bool(field(r, "tokenizer.ggml.add_space_prefix", True))
    unk_id = field(r, "tokenizer.ggml.unknown_token_id", 0)

    # SentencePieceExtractor: merges from the normal pieces, ordered by the merged piece's score.
    vocab = {t: i for i, t in enumerate(tokens)}
    normal = {t for i, t in enumerate(tokens) if types[i] == gguf.TokenType.NORMAL}
    merges = []
    for piece in normal:
        local = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in normal and piece[k:] in normal]
        local.sort(key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))
        merges += [(l, rr, scores[vocab[piece]]) for l, rr in local]
    merges.sort(key=lambda m: -m[2])
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(l, rr) for l, rr, _ in merges], unk_token=tokens[unk_id],
                               byte_fallback=True, fuse_unk=True))
    replace = normalizers.Replace(" ", META)
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(META), replace]) if add_prefix else replace
    tok.decoder = decoders.Sequence([decoders.Replace(META, " "), decoders.ByteFallback(), decoders.Fuse()])
    control = [i for i, ty in enumerate(types) if ty == gguf.TokenType.CONTROL]
    user = [i for i, ty in enumerate(types) if ty == gguf.TokenType.USER_DEFINED]
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i in control])
    tok.add_tokens([AddedToken(tokens[i], special=False, normalized=False) for i in user])
    bos, eos = field(r, "tokenizer.ggml.bos_token_id"), field(r, "tokenizer.ggml.eos_token_id")
    tcfg = {"bos_token": tokens[bos] if bos is not None else None, "eos_token": tokens[eos] if eos is not None else None,
            "unk_token": tokens[unk_id], "add_bos_token": bool(field(r, "tokenizer.ggml.add_bos_token", True))}
    print(f"[make_hf_spm_folder] {len(tokens)} pieces, {len(merges)} merges, add_space_prefix {add_prefix}",
          file=sys.stderr)
    return tok, tcfg


def main():
    src, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    r = gguf.GGUFReader(src)
    tok, tcfg = spm_tokenizer(r)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(tcfg))
    tokens = field(r, "tokenizer.ggml.tokens")
    d, n = 64, len(tokens)
    (out / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": d, "intermediate_size": 128, "num_hidden_layers": 1,
        "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": n, "max_position_embeddings": 512,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": True}))
    rng = np.random.default_rng(1)
    w = {"model.embed_tokens.weight": rng.standard_normal((n, d)), "model.norm.weight": np.ones(d)}
    p = "model.layers.0."
    for name, shape in [("input_layernorm.weight", (d,)), ("post_attention_layernorm.weight", (d,)),
                        ("self_attn.q_proj.weight", (d, d)), ("self_attn.k_proj.weight", (d, d)),
                        ("self_attn.v_proj.weight", (d, d)), ("self_attn.o_proj.weight", (d, d)),
                        ("mlp.gate_proj.weight", (128, d)), ("mlp.up_proj.weight", (128, d)),
                        ("mlp.down_proj.weight", (d, 128))]:
        w[p + name] = rng.standard_normal(shape) * 0.1
    save_file({k: v.astype(np.float16) for k, v in w.items()}, str(out / "model.safetensors"))


if __name__ == "__main__":
    main()
