#!/usr/bin/env bash
# One-stop setup on Debian 12: installs the packages joule builds with, builds it (Release, in
# build/), and fetches the default model. Idempotent: a second run only rebuilds what changed.
#
#   scripts/setup.sh            build + model
#   scripts/setup.sh --peer     also build the llama.cpp reference peer (tests, benchmarks)
#   scripts/setup.sh --models   also fetch the other real models (Qwen2.5-Coder-0.5B, Gemma 3 270M;
#                               ~710 MiB; scripts/fetch_model.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${JOULE_BUILD_DIR:-$ROOT/build}"
WITH_PEER=0
WITH_MODELS=0
for arg in "$@"; do
  case "$arg" in
    --peer) WITH_PEER=1 ;;
    --models) WITH_MODELS=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
log() { echo "[setup] $*" >&2; }

# Debian packages: compiler and build tools, libraries joule links, test and fuzz tooling.
PKGS=(build-essential cmake pkg-config git python3 python3-pip python3-venv
      libpcre2-dev libicu-dev libssl-dev libsqlite3-dev libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
      libcpp-httplib-dev prometheus-cpp-dev prometheus
      clang libclang-rt-14-dev chromium slurm-wlm munge)
      # chromium: the HTML report is rendered headless in a test; prometheus: promtool checks
      # /metrics in a test; slurm-wlm, munge: a study runs on a live one-node Slurm cluster in a test
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test clients: a venv at .venv with the openai package, pinned (tests/serve_api.py drives
# `joule serve` with it). Left alone when it already has that version.
OPENAI_VERSION=2.54.0
VENV="$ROOT/.venv"
if ! "$VENV/bin/python" -c "import sys, openai; sys.exit(openai.__version__ != '$OPENAI_VERSION')" 2>/dev/null; then
  log "creating $VENV with openai==$OPENAI_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "openai==$OPENAI_VERSION" >/dev/null
fi

log "building joule (Release) in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" >"$BUILD_DIR/build.log" 2>&1 \
  || { tail -40 "$BUILD_DIR/build.log" >&2; log "build failed (full log: $BUILD_DIR/build.log)"; exit 1; }

"$ROOT/scripts/fetch_model.sh" >/dev/null
if ((WITH_MODELS)); then
  for m in qwen2.5-coder-0.5b gemma3-270m; do "$ROOT/scripts/fetch_model.sh" "$m" >/dev/null; done
fi
if ((WITH_PEER)); then "$ROOT/scripts/setup_peer.sh" >/dev/null; fi
log "done: $BUILD_DIR/tools/joule"
