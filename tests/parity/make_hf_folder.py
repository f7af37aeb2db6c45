#!/usr/bin/env python3
"""A Hugging Face checkpoint folder made from a llama, qwen2, gemma3 or bloom GGUF (SmolLM2, Qwen2.5,
Gemma 3, a random-weight bloom), with Hugging Face's own libraries, for the tests of `joule convert`
and `-m DIR`.

Usage: make_hf_folder.py MODEL.gguf OUT_DIR     (the peer's venv: gguf, numpy, tokenizers, safetensors)

  * weights: every tensor dequantized with gguf-py, Q and K rows put back in Hugging Face's order
    (the inverse of llama.cpp's convert permutation; llama only), Gemma's norms minus 1 (llama.cpp's
    converter adds 1), bloom's fused QKV back to per-head (q, k, v) triples, stored as F16 (vectors
    F32) under their Hugging Face names
    in two safetensors shards with model.safetensors.index.json (written with safetensors' numpy
    API);
  * config.json from the GGUF's llama.* keys (tied embeddings: no lm_head);
  * tokenizer.json built with the tokenizers package from the GGUF vocabulary and merges: byte-level
    BPE with the GGUF's pre-tokenizer (smollm: digits one by one, then GPT-2's split; qwen2: its
    split regex), its control tokens as special added tokens; tokenizer_config.json with the
    special tokens and the chat template; user-defined tokens as added, non-special tokens; a
    SentencePiece vocabulary (Gemma) as make_hf_spm_folder.py builds it. Qwen2's tokenizer.json
    NFC-normalizes, as the real one does (the GGUF's tokenizer in llama.cpp does not).
The F16 weights equal `joule quantize MODEL --type f16`'s, so the folder's logits must equal that
file's exactly.
"""
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf.quants import dequantize
from safetensors.numpy import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_hf_spm_folder import spm_tokenizer  # noqa: E402

# BLOOM's split, as its tokenizer.json has it.
BLOOM_SPLIT = " ?[^(\\s|[.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c])]+"
# Qwen2's split, as its tokenizer.json has it.
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")


def field(reader, key):
    f = reader.fields[key]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[-1]).decode()
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode() for i in f.data]
        return [f.parts[i][0].item() for i in f.data]
    return f.parts[f.data[0]][0].item()


def unpermute(w, n_head):
    # llama.cpp: w.reshape(n_head, 2, hd/2, cols).swapaxes(1, 2).reshape(w.shape); this undoes it.
    rows, cols = w.shape
    return w.reshape(n_head, rows // n_head // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def main():
    model, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    r = gguf.GGUFReader(model)
    arch = field(r, "general.architecture")
    assert arch in ("llama", "qwen2", "gemma3", "bloom"), "a llama, qwen2, gemma3 or bloom GGUF is expected"
    n_head = field(r, f"{arch}.attention.head_count")
    n_kv = field(r, f"{arch}.attention.head_count_kv") if f"{arch}.attention.head_count_kv" in r.fields else n_head
    n_layers = field(r, f"{arch}.block_count")
    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")

    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    per_layer = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                 "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
                 "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    if arch == "bloom":  # BloomForCausalLM's names
        names = {"token_embd.weight": "transformer.word_embeddings.weight",
                 "token_embd_norm.weight": "transformer.word_embeddings_layernorm.weight",
                 "token_embd_norm.bias": "transformer.word_embeddings_layernorm.bias",
                 "output_norm.weight": "transformer.ln_f.weight", "output_norm.bias": "transformer.ln_f.bias",
                 "output.weight": "lm_head.weight"}
        per_layer = {"attn_norm": "input_layernorm", "attn_qkv": "self_attention.query_key_value",
                     "attn_output": "self_attention.dense", "ffn_norm": "post_attention_layernorm",
                     "ffn_up": "mlp.dense_h_to_4h", "ffn_down": "mlp.dense_4h_to_h"}
    if arch == "gemma3":
        per_layer.update({"ffn_norm": "pre_feedforward_layernorm", "post_attention_norm": "post_attention_layernorm",
                          "post_ffw_norm": "post_feedforward_layernorm", "attn_q_norm": "self_attn.q_norm",
                          "attn_k_norm": "self_attn.k_norm"})
    tensors = {}
    for t in r.tensors:
        w = dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape([int(x) for x in reversed(t.shape)]) if len(t.shape) > 1 else w.reshape(-1)
        if t.name.startswith("blk."):
            _, i, kind, suffix = t.name.split(".")
            if arch == "llama" and kind == "attn_q":  # qwen2 files keep Hugging Face's row order
                w = unpermute(w, n_head)
            if arch == "llama" and kind == "attn_k":
                w = unpermute(w, n_kv)
            if kind == "attn_qkv":  # GGUF: all q, k, v rows; Hugging Face's bloom: per head (q, k, v)
                d3 = w.shape[0]
                hd = d3 // 3 // n_head
                w = w.reshape(3, n_head, hd, -1).transpose(1, 0, 2, 3).reshape(w.shape)
            prefix = "transformer.h" if arch == "bloom" else "model.layers"
            hf = f"{prefix}.{i}.{per_layer[kind]}.{suffix}"
        else:
            hf = names[t.name]
        if arch == "gemma3" and hf.endswith("norm.weight"):
            w = w - 1.0  # Gemma3RMSNorm computes x * (1 + w); llama.cpp's converter stores 1 + w
        # Matrices as F16; vectors (norms, biases) as F32, as the GGUF keeps them.
        tensors[hf] = w.astype(np.float16 if w.ndim == 2 else np.float32)
    # Two shards, split by layer, and the index that maps every tensor to its shard.
    half = n_layers // 2
    shards = {"model-00001-of-00002.safetensors": {}, "model-00002-of-00002.safetensors": {}}
    layer_of = lambda n: int(n.split(".")[2])  # model.layers.N... / transformer.h.N...
    for name, w in tensors.items():
        second = (name.startswith("model.layers.") or name.startswith("transformer.h.")) and layer_of(name) >= half
        shards["model-0000%d-of-00002.safetensors" % (2 if second else 1)][name] = w
    weight_map = {}
    for file, part in shards.items():
        save_file(part, str(out / file), metadata={"format": "pt"})
        weight_map.update({n: file for n in part})
    total = sum(w.nbytes for w in tensors.values())
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))

    hf_arch = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "gemma3": "Gemma3ForCausalLM",
               "bloom": "BloomForCausalLM"}[arch]
    if arch == "bloom":
        config = {"architectures": [hf_arch], "model_type": "bloom", "n_embed": field(r, "bloom.embedding_length"),
                  "n_layer": n_layers, "n_head": n_head, "vocab_size": len(tokens),
                  "layer_norm_epsilon": field(r, "bloom.attention.layer_norm_epsilon"),
                  "seq_length": field(r, "bloom.context_length"), "tie_word_embeddings": True,
                  "bos_token_id": field(r, "tokenizer.ggml.bos_token_id") if "tokenizer.ggml.bos_token_id" in r.fields else None,
                  "eos_token_id": field(r, "tokenizer.ggml.eos_token_id"), "torch_dtype": "float16"}
    config = config if arch == "bloom" else {
        "architectures": [hf_arch], "model_type": "gemma3_text" if arch == "gemma3" else arch,
        "hidden_size": field(r, f"{arch}.embedding_length"), "intermediate_size": field(r, f"{arch}.feed_forward_length"),
        "num_hidden_layers": n_layers, "num_attention_heads": n_head, "num_key_value_heads": n_kv,
        "max_position_embeddings": field(r, f"{arch}.context_length"), "vocab_size": len(tokens),
        "rms_norm_eps": field(r, f"{arch}.attention.layer_norm_rms_epsilon"),
        "rope_theta": field(r, f"{arch}.rope.freq_base"), "tie_word_embeddings": "lm_head.weight" not in tensors,
        "bos_token_id": field(r, "tokenizer.ggml.bos_token_id") if "tokenizer.ggml.bos_token_id" in r.fields else None,
        "eos_token_id": field(r, "tokenizer.ggml.eos_token_id"),
        "torch_dtype": "float16",
    }
    if arch == "gemma3":
        config.update({"head_dim": field(r, "gemma3.attention.key_length"),
                       "sliding_window": field(r, "gemma3.attention.sliding_window"), "sliding_window_pattern": 6,
                       "rope_local_base_freq": 10000.0, "query_pre_attn_scalar": field(r, "gemma3.attention.key_length"),
                       "final_logit_softcapping": None})
    (out / "config.json").write_text(json.dumps(config, indent=2))

    if field(r, "tokenizer.ggml.model") == "llama":  # SentencePiece (Gemma)
        tok, tcfg = spm_tokenizer(r)
        tok.save(str(out / "tokenizer.json"))
        tcfg["model_max_length"] = config.get("max_position_embeddings", config.get("seq_length"))
    else:
        control = [i for i, ty in enumerate(types) if ty == gguf.TokenType.CONTROL]
        user_defined = [i for i, ty in enumerate(types) if ty == gguf.TokenType.USER_DEFINED]
        vocab = {tok: i for i, tok in enumerate(tokens)}
        merges = [tuple(m.split(" ", 1)) for m in field(r, "tokenizer.ggml.merges")]
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=False))
        pre = field(r, "tokenizer.ggml.pre")
        if pre == "smollm":
            tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
        elif pre == "bloom":  # as BLOOM's own tokenizer.json
            tok.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(BLOOM_SPLIT), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
        elif pre == "qwen2":
            tok.normalizer = normalizers.NFC()
            tok.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
        else:
            sys.exit(f"make_hf_folder: pre-tokenizer {pre!r} is not one this script writes")
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i in control])
        tok.add_tokens([AddedToken(tokens[i], special=False, normalized=False) for i in user_defined])
        tok.save(str(out / "tokenizer.json"))
        tcfg = {"bos_token": tokens[config["bos_token_id"]] if config["bos_token_id"] is not None else None,
                "eos_token": tokens[config["eos_token_id"]],
                "model_max_length": config.get("max_position_embeddings", config.get("seq_length")), "tokenizer_class": "GPT2Tokenizer"}
    if "tokenizer.ggml.add_bos_token" in r.fields:
        tcfg["add_bos_token"] = bool(field(r, "tokenizer.ggml.add_bos_token"))
    if "tokenizer.chat_template" in r.fields:
        tcfg["chat_template"] = field(r, "tokenizer.chat_template")
    (out / "tokenizer_config.json").write_text(json.dumps(tcfg, indent=2))
    print(f"[make_hf_folder] {len(tensors)} tensors in 2 shards, {len(tokens)} tokens -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
