#!/usr/bin/env bash
# HellaSwag item by item against llama.cpp: `llama-perplexity --hellaswag --hellaswag-tasks N` and
# `joule eval --hellaswag-llamacpp N` on MODEL (default: the default model; same selection and
# criterion), then
# the items where they differ with joule's margin between its top two endings. Raw outputs go to
# bench/results/. Needs the peer (scripts/setup_peer.sh).
#
#   bench/hellaswag_vs_llamacpp.sh [N=400] [THREADS] [MODEL]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${1:-400}"; T="${2:-$(nproc)}"
PEER="$(scripts/setup_peer.sh)"
DATA="${JOULE_DATA_DIR:-$ROOT/data}"
MODEL="${3:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
TAG="$(basename "$MODEL" .gguf)"
LP="bench/results/hellaswag-llamacpp-$TAG-$STAMP.txt"; JJ="bench/results/hellaswag-joule-$TAG-$STAMP.json"
LD_LIBRARY_PATH="$PEER/build/bin" "$PEER/build/bin/llama-perplexity" -m "$MODEL" \
  -f "$DATA/hellaswag/hellaswag_val_full.txt" --hellaswag --hellaswag-tasks "$N" -t "$T" >"$LP" 2>&1
build/tools/joule eval -m "$MODEL" --hellaswag-llamacpp "$N" -t "$T" --data "$DATA" --json 2>/dev/null >"$JJ"
python3 - "$LP" "$JJ" <<'PY'
import json, re, sys
acc = [float(l.split("\t")[1].rstrip("%")) for l in open(sys.argv[1]) if re.match(r"^\d+\t", l)]
llama, prev = [], 0
for i, a in enumerate(acc, 1):  # llama.cpp prints the running accuracy: each item's outcome
    c = round(a * i / 100)
    llama.append(c - prev)
    prev = c
j = json.load(open(sys.argv[2]))["hellaswag_llamacpp"]
joule = [int(c == g) for c, g in zip(j["chosen"], j["gold"])]
diff = [i for i in range(len(joule)) if joule[i] != llama[i]]
print(f"{len(joule)} items: joule {sum(joule)} correct, llama.cpp {sum(llama)}; they differ on {len(diff)}")
for i in diff:
    m = sorted(j["mean_logprob"][i], reverse=True)
    print(f"  item {i}: gold {j['gold'][i]}, joule chose {j['chosen'][i]} ({'right' if joule[i] else 'wrong'}), "
          f"llama.cpp {'right' if llama[i] else 'wrong'}; joule's top-two margin {m[0] - m[1]:.4f} nats/token")
PY
