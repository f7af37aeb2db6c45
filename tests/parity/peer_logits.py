#!/usr/bin/env python3
"""Reference next-token data from llama.cpp (the peer) for joule's model parity test.

Usage: peer_logits.py MODEL DATA_DIR OUT.json

Writes, for the same GGUF file joule loads:
  * chunks: CHUNKS x CTX tokens of English text (GSM8K test questions and answers from
    DATA_DIR/gsm8k/test.jsonl, tokenized by llama.cpp), each evaluated from an empty cache, with
    llama.cpp's top-1 token and the negative log-likelihood of the actual next token at every
    position (perplexity = exp(mean nll)).
  * generations: 20 prompts (plain and chat-formatted), their llama.cpp token ids, and the 32
    tokens llama.cpp generates greedily after each.
Token ids are stored so joule's engine is compared on identical inputs, independent of its
tokenizer (which has its own parity test).
Run with LLAMA_CPP_LIB_PATH pointing at the peer's libllama.so (scripts/setup_peer.sh).
"""
import json
import math
import sys

import numpy as np
import llama_cpp

CTX = 512
CHUNKS = 4
GEN_TOKENS = 32

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):\n    ",
    "The three primary colors are",
    "Water boils at a temperature of",
    "In 1969, the first humans",
    "A healthy breakfast usually includes",
    "The quick brown fox",
    "To make a cup of tea, first",
    "The largest planet in our solar system is",
    "Photosynthesis is the process by which",
    "import numpy as np\n\n",
    "My favourite book is",
    "The theory of relativity was developed by",
    "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nName three fruits.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWrite a haiku about autumn.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n<|im_start|>user\nWhat is the boiling point of water?<|im_end|>\n"
    "<|im_start|>assistant\n",
    "<|im_start|>user\nTranslate 'good morning' into Spanish.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nExplain gravity in one sentence.<|im_end|>\n<|im_start|>assistant\n",
]


def log_softmax(row):
    m = row.max()
    return row - m - math.log(np.exp(row - m).sum())


def main():
    model, data_dir, out = sys.argv[1:4]
    llm = llama_cpp.Llama(model_path=model, n_ctx=CTX, n_batch=CTX, logits_all=True,
                          n_threads=2, verbose=False, seed=0)
    with open(f"{data_dir}/gsm8k/test.jsonl") as f:
        text = "\n\n".join(
            (lambda r: r["question"] + "\n" + r["answer"])(json.loads(line)) for line in f)
    all_tokens = llm.tokenize(text.encode(), add_bos=False, special=False)
    need = CTX * CHUNKS
    assert len(all_tokens) >= need, "not enough text"

    chunks = []
    for c in range(CHUNKS):
        toks = all_tokens[c * CTX:(c + 1) * CTX]
        llm.reset()
        llm.eval(toks)
        scores = np.array(llm.scores[:len(toks)], dtype=np.float64)
        top1 = scores.argmax(axis=1).tolist()
        nll = [-float(log_softmax(scores[i])[toks[i + 1]]) for i in range(len(toks) - 1)]
        chunks.append({"tokens": toks, "top1": top1, "nll": nll})
    all_nll = [x for ch in chunks for x in ch["nll"]]
    ppl = math.exp(sum(all_nll) / len(all_nll))

    gens = []
    for p in PROMPTS:
        toks = llm.tokenize(p.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(toks)
        out_toks = []
        for _ in range(GEN_TOKENS):
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            out_toks.append(nxt)
            llm.eval([nxt])
        gens.append({"prompt": p, "prompt_tokens": toks, "tokens": out_toks})

    with open(out, "w") as f:
        json.dump({"peer": f"llama.cpp via llama-cpp-python {llama_cpp.__version__}",
                   "model": model, "ctx": CTX, "chunks": chunks, "perplexity": ppl,
                   "generations": gens}, f)
    print(f"[peer_logits] {len(all_nll)} scored positions, perplexity {ppl:.4f}, "
          f"{len(gens)} greedy generations -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
