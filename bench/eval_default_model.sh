#!/usr/bin/env bash
# The default model on the five benchmarks, one `joule eval` per task, with energy; then
# docs/eval-results.md (scores next to the model card's, time, energy, EOR, TWEOR). Raw JSON lines
# in bench/results/. The scoring throughput against plain prefill: bench/eval_throughput.sh.
#
#   bench/eval_default_model.sh [-t THREADS] [--mmlu-sample N] [--gsm8k-sample N] [--tasks a,b,...]
#                               [--model GGUF --title TITLE [--sample N]]
# Full sets except MMLU and GSM8K, which are seeded samples by default (full MMLU with 5 shots
# and GSM8K's generation take hours on two cores); pass 0 to run them whole. With --model, another
# model's section is appended to docs/eval-results.md under TITLE, and --sample N draws N items
# of every other task too (seed 1234).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
THREADS="$(nproc)"; MMLU_SAMPLE=500; GSM8K_SAMPLE=50; SAMPLE=0; TITLE=""
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
TASKS=hellaswag,arc_easy,arc_challenge,truthfulqa_mc1,truthfulqa_mc2,mmlu,gsm8k
while (($#)); do
  case "$1" in
    -t) THREADS="$2"; shift 2 ;;
    --mmlu-sample) MMLU_SAMPLE="$2"; shift 2 ;;
    --gsm8k-sample) GSM8K_SAMPLE="$2"; shift 2 ;;
    --tasks) TASKS="$2"; shift 2 ;;
    --model) MODEL="$2"; shift 2 ;;
    --title) TITLE="$2"; shift 2 ;;
    --sample) SAMPLE="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "eval_default_model.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
JOULE=build/tools/joule
[[ -x "$JOULE" ]] || scripts/setup.sh
[[ -s "$MODEL" ]] || { echo "eval_default_model.sh: no $MODEL (scripts/setup.sh --models fetches the real models)" >&2; exit 1; }
[[ "$MODEL" == models/SmolLM2-135M-Instruct.Q4_1.gguf || -n "$TITLE" ]] \
  || { echo "eval_default_model.sh: --model needs --title (its section in docs/eval-results.md)" >&2; exit 2; }
RAW="bench/results/eval-default-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
mkdir -p bench/results
for task in ${TASKS//,/ }; do
  extra=()
  case "$task" in
    mmlu) ((MMLU_SAMPLE > 0)) && extra=(--sample "$MMLU_SAMPLE" --seed 1234) ;;
    gsm8k) ((GSM8K_SAMPLE > 0)) && extra=(--sample "$GSM8K_SAMPLE" --seed 1234) ;;
    hellaswag) [[ -z "$TITLE" ]] && extra=(--hellaswag-llamacpp 400) ;;
  esac
  if ((SAMPLE > 0)) && [[ "$task" != mmlu && "$task" != gsm8k ]]; then extra+=(--sample "$SAMPLE" --seed 1234); fi
  echo "[eval] $task ${extra[*]}" >&2
  "$JOULE" eval -m "$MODEL" --task "$task" -t "$THREADS" "${extra[@]}" --json \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); d["kind"]="eval"; print(json.dumps(d))' >>"$RAW"
done
if [[ -n "$TITLE" ]]; then
  python3 bench/write_eval_md.py "$RAW" docs/eval-results.md --append "$TITLE"
else
  python3 bench/write_eval_md.py "$RAW" docs/eval-results.md
fi
echo "[eval] wrote docs/eval-results.md from $RAW" >&2
