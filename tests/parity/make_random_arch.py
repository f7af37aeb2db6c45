#!/usr/bin/env python3
"""Small random-weight models in llama.cpp's own GGUF layout, for architectures with no small real
checkpoint here (bloom; mistral, which llama.cpp files as llama).

Usage: make_random_arch.py ARCH TOKENIZER_GGUF OUT.gguf      (ARCH: bloom | mistral)

Written with the `gguf` package from llama.cpp's source (the peer's venv), not with joule's writer,
so the test also checks that joule reads the layout llama.cpp's converters write. The tokenizer
(vocabulary, merges, special ids) is copied from TOKENIZER_GGUF (SmolLM2), so English text
tokenizes as it would for a real model; the bloom file takes BLOOM's pre-tokenizer ("bloom"). Shapes are small (4 layers, width 256) and the weights
f32, so joule and llama.cpp differ only in the architecture's arithmetic:
  bloom:   LayerNorms with biases (one on the embeddings), fused QKV with bias, ALiBi, GELU
           feed-forward with biases, output tied to the embeddings;
  mistral: llama with grouped-query attention (8 heads, 2 KV heads), RoPE base 1e6 and
           attention.sliding_window = 4096, beyond the test's context (llama.cpp's llama graph
           ignores the key; joule applies it, which its own unit tests check).
"""
import sys

import numpy as np
import gguf

N_LAYERS, D, CTX = 4, 256, 2048


def copy_tokenizer(reader, w, pre=None):
    def field(name):
        f = reader.fields[name]
        return f

    def strings(name):
        f = field(name)
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def scalar(name):
        f = field(name)
        return f.parts[f.data[0]][0]

    w.add_tokenizer_model(bytes(field("tokenizer.ggml.model").parts[-1]).decode())
    if pre is not None:
        w.add_tokenizer_pre(pre)
    elif "tokenizer.ggml.pre" in reader.fields:
        w.add_tokenizer_pre(bytes(field("tokenizer.ggml.pre").parts[-1]).decode())
    w.add_token_list(strings("tokenizer.ggml.tokens"))
    types = field("tokenizer.ggml.token_type")
    w.add_token_types([int(types.parts[i][0]) for i in types.data])
    w.add_token_merges(strings("tokenizer.ggml.merges"))
    for key, add in [("tokenizer.ggml.bos_token_id", w.add_bos_token_id),
                     ("tokenizer.ggml.eos_token_id", w.add_eos_token_id),
                     ("tokenizer.ggml.unknown_token_id", w.add_unk_token_id),
                     ("tokenizer.ggml.padding_token_id", w.add_pad_token_id)]:
        if key in reader.fields:
            add(int(scalar(key)))
    w.add_add_bos_token(False)
    return len(strings("tokenizer.ggml.tokens"))


def main():
    arch, tok_path, out = sys.argv[1:4]
    rng = np.random.default_rng(20261206)
    reader = gguf.GGUFReader(tok_path)
    gguf_arch = "bloom" if arch == "bloom" else "llama"
    w = gguf.GGUFWriter(out, gguf_arch)
    w.add_name(f"random-tiny-{arch}")
    n_vocab = copy_tokenizer(reader, w, pre="bloom" if arch == "bloom" else None)
    n_heads, n_kv = (4, 4) if arch == "bloom" else (8, 2)
    FF = 4 * D if arch == "bloom" else 2 * D  # BLOOM's feed-forward is always 4x wide (HF has no field for it)
    head_dim = D // n_heads
    kv = n_kv * head_dim
    w.add_block_count(N_LAYERS)
    w.add_context_length(CTX)
    w.add_embedding_length(D)
    w.add_feed_forward_length(FF)
    w.add_head_count(n_heads)
    w.add_head_count_kv(n_kv)
    if arch == "bloom":
        w.add_layer_norm_eps(1e-5)
    else:
        w.add_layer_norm_rms_eps(1e-5)
        w.add_rope_freq_base(1e6)
        w.add_rope_dimension_count(head_dim)
        w.add_sliding_window(4096)

    def t(name, rows, cols, sd, mean=0.0):
        shape = (cols,) if rows == 1 else (rows, cols)
        w.add_tensor(name, (mean + sd * rng.standard_normal(shape)).astype(np.float32))

    def norm(name, scale=1.0):
        t(name + ".weight", 1, D, 0.1 * scale, scale)
        if arch == "bloom":
            t(name + ".bias", 1, D, 0.1)

    sd_d, sd_f = D ** -0.5, FF ** -0.5
    t("token_embd.weight", n_vocab, D, 1.0)
    if arch == "bloom":
        norm("token_embd_norm")
    norm("output_norm", 0.25)  # logits of sd ~4 (16 at 1.0: every top-1 would be a landslide)
    for i in range(N_LAYERS):
        b = f"blk.{i}."
        norm(b + "attn_norm")
        if arch == "bloom":
            t(b + "attn_qkv.weight", D + 2 * kv, D, sd_d)
            t(b + "attn_qkv.bias", 1, D + 2 * kv, 0.1)
        else:
            t(b + "attn_q.weight", D, D, sd_d)
            t(b + "attn_k.weight", kv, D, sd_d)
            t(b + "attn_v.weight", kv, D, sd_d)
        t(b + "attn_output.weight", D, D, sd_d)
        norm(b + "ffn_norm")
        if arch != "bloom":
            t(b + "ffn_gate.weight", FF, D, sd_d)
        t(b + "ffn_up.weight", FF, D, sd_d)
        t(b + "ffn_down.weight", D, FF, sd_f)
        if arch == "bloom":
            t(b + "attn_output.bias", 1, D, 0.1)
            t(b + "ffn_up.bias", 1, FF, 0.1)
            t(b + "ffn_down.bias", 1, D, 0.1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"[make_random_arch] {arch}: {N_LAYERS} layers, width {D}, vocab {n_vocab} -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
