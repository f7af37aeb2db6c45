#!/usr/bin/env bash
# Builds the reference peer: llama.cpp as shipped inside the PyPI source package
# llama-cpp-python (pinned), plus that package's Python bindings, into a cache
# directory outside the repo. Idempotent: a finished build is reused.
#
#   scripts/setup_peer.sh            -> prints the peer directory on stdout
#
# Layout of $PEER_DIR:
#   src/          the unpacked sdist (vendor/llama.cpp inside)
#   build/bin/    llama-bench, llama-perplexity, llama-tokenize, llama-server, libllama.so, libggml*.so
#   venv/         python venv with llama_cpp (bindings only; uses build/bin via LLAMA_CPP_LIB_PATH)
set -euo pipefail
LCP_VERSION="${JOULE_LCP_VERSION:-0.3.36}"
# The peer gets the widest x86 vector set this CPU has (joule picks its kernels at run time the
# same way): AVX-512 with VNNI/BF16 where present, else AVX2. The cache is per ISA, so a home
# folder shared by machines of both kinds never runs a binary built for the other.
flag() { grep -qw "$1" /proc/cpuinfo; }
if flag avx512f && flag avx512bw && flag avx512vl && flag avx512_vnni && flag avx512_bf16 && flag avx512vbmi; then
  ISA=avx512
else
  ISA=avx2
fi
PEER_DIR="${JOULE_PEER_DIR:-$HOME/.cache/joule/peer-llama-cpp-python-$LCP_VERSION-$ISA}"
JOBS="${JOBS:-$(nproc)}"
log() { echo "[setup_peer] $*" >&2; }
# The llama.cpp programs the peer provides. A cache made before one was added (llama-server came
# later, for bench/serve_bench.py) is upgraded in place: reconfigured and only the missing
# targets built, the rest of the build tree reused.
BINS=(llama-bench llama-perplexity llama-tokenize llama-server)
have_bins() { local b; for b in "${BINS[@]}"; do [[ -x "$PEER_DIR/build/bin/$b" ]] || return 1; done; }
# Hugging Face's own readers and writers, for the tests that build and check checkpoint folders
# (tests/parity/make_hf_folder.py), pinned in the peer's venv.
HF_PY='import tokenizers, safetensors, sys; sys.exit(tokenizers.__version__ != "0.23.2" or safetensors.__version__ != "0.8.0")'
have_hf_py() { "$PEER_DIR/venv/bin/python" -c "$HF_PY" 2>/dev/null; }

if [[ -f "$PEER_DIR/.done" ]] && have_bins && have_hf_py; then
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

if ! have_bins; then
  # Not GGML_NATIVE: -march=native compiles in ggml's AMX path, which segfaults on this model here
  # (ggml_backend_amx_mul_mat); the peer gets every AVX-512 extension joule uses, but no AMX.
  # llama-server: plain HTTP with llama.cpp's vendored cpp-httplib (no curl, no OpenSSL), and no
  # web UI (the prebuilt one would be downloaded from Hugging Face at build time; the benchmark
  # only needs the /v1 API).
  AVX512=OFF; [[ $ISA == avx512 ]] && AVX512=ON
  log "building llama.cpp (Release, $ISA, no AMX, shared) with $JOBS jobs; this takes several minutes"
  cmake -S src/vendor/llama.cpp -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DGGML_AVX512=$AVX512 -DGGML_AVX512_VBMI=$AVX512 -DGGML_AVX512_VNNI=$AVX512 -DGGML_AVX512_BF16=$AVX512 \
    -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >build.log 2>&1 \
    || { tail -30 build.log >&2; exit 1; }
  cmake --build build -j "$JOBS" --target "${BINS[@]}" >>build.log 2>&1 \
    || { tail -30 build.log >&2; exit 1; }
fi

# (The bindings load libllama from build/bin: without LLAMA_CPP_LIB_PATH the import always fails
# and every upgrade of the build would reinstall them.)
if [[ ! -x venv/bin/python ]] || ! LLAMA_CPP_LIB_PATH="$PEER_DIR/build/bin" venv/bin/python -c 'import llama_cpp, gguf' 2>/dev/null; then
  log "installing the llama_cpp Python bindings (without building another copy of llama.cpp)"
  python3 -m venv venv
  venv/bin/python -m pip install -q --upgrade pip >/dev/null
  venv/bin/python -m pip install -q numpy typing-extensions diskcache jinja2
  CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" venv/bin/python -m pip install -q --no-deps ./src
  # gguf-py as vendored with this llama.cpp: the tokenizer parity test derives vocab variants.
  venv/bin/python -m pip install -q ./src/vendor/llama.cpp/gguf-py
fi
if ! have_hf_py; then
  log "installing tokenizers and safetensors into the peer venv"
  venv/bin/python -m pip install -q "tokenizers==0.23.2" "safetensors==0.8.0"
fi
touch .done
echo "$PEER_DIR"
