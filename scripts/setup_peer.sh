#!/usr/bin/env bash
# Builds the reference peer: llama.cpp as shipped inside the PyPI source package
# llama-cpp-python (pinned), plus that package's Python bindings, into a cache
# directory outside the repo. Idempotent: a finished build is reused.
#
#   scripts/setup_peer.sh            -> prints the peer directory on stdout
#
# Layout of $PEER_DIR:
#   src/          the unpacked sdist (vendor/llama.cpp inside)
#   build/bin/    llama-bench, llama-perplexity, llama-tokenize, libllama.so, libggml*.so
#   venv/         python venv with llama_cpp (bindings only; uses build/bin via LLAMA_CPP_LIB_PATH)
set -euo pipefail
LCP_VERSION="${JOULE_LCP_VERSION:-0.3.36}"
PEER_DIR="${JOULE_PEER_DIR:-$HOME/.cache/joule/peer-llama-cpp-python-$LCP_VERSION}"
JOBS="${JOBS:-$(nproc)}"
log() { echo "[setup_peer] $*" >&2; }

if [[ -f "$PEER_DIR/.done" ]]; then
  echo "$PEER_DIR"; exit 0
fi
mkdir -p "$PEER_DIR"
cd "$PEER_DIR"

if [[ ! -d src ]]; then
  log "downloading llama-cpp-python==$LCP_VERSION (sdist) from PyPI"
  rm -rf dl && mkdir dl
  python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$LCP_VERSION" -d dl
  mkdir -p src.tmp && tar xzf dl/llama_cpp_python-"$LCP_VERSION".tar.gz -C src.tmp --strip-components=1
  mv src.tmp src && rm -rf dl
fi

if [[ ! -x build/bin/llama-bench ]]; then
  log "building llama.cpp (Release, native, shared) with $JOBS jobs; this takes several minutes"
  cmake -S src/vendor/llama.cpp -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
    -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_OPENSSL=OFF >build.log 2>&1 \
    || { tail -30 build.log >&2; exit 1; }
  cmake --build build -j "$JOBS" --target llama-bench llama-perplexity llama-tokenize llama-cli >>build.log 2>&1 \
    || { tail -30 build.log >&2; exit 1; }
fi

if [[ ! -x venv/bin/python ]] || ! venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
  log "installing the llama_cpp Python bindings (without building another copy of llama.cpp)"
  python3 -m venv venv
  venv/bin/python -m pip install -q --upgrade pip >/dev/null
  venv/bin/python -m pip install -q numpy
  CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" venv/bin/python -m pip install -q --no-deps ./src \
    typing-extensions diskcache jinja2
fi
touch .done
echo "$PEER_DIR"
