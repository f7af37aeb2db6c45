#!/usr/bin/env bash
# Builds a libFuzzer target (clang + libFuzzer + ASan + UBSan) in build-fuzz/ and runs it for a
# bounded time on its seed corpus.
#
#   scripts/fuzz.sh TARGET [SECONDS]   TARGET: gguf (the GGUF reader), safetensors (the
#                                      safetensors reader) or request (joule serve's request
#                                      parsing); SECONDS default 60; JOBS=N for a parallel build
#                                      (default 1)
#
# Exits non-zero if the fuzzer finds a crash, leak or timeout; the reproducing input is left in
# build-fuzz/TARGET-artifacts/ (replay it with: build-fuzz/fuzz/BINARY <file>).
set -euo pipefail

target="${1:?usage: scripts/fuzz.sh gguf|safetensors|request [SECONDS]}"
seconds="${2:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
corpus="$build/$target-corpus"
artifacts="$build/$target-artifacts"
mkdir -p "$corpus" "$artifacts"

# Inputs beyond a few KB add nothing a small input cannot reach and slow every execution down.
case "$target" in
  gguf)
    binary=gguf_reader_fuzz; dict="$root/fuzz/gguf.dict"; max_len=4096
    python3 "$root/fuzz/make_gguf_seeds.py" "$corpus" ;;
  safetensors)
    binary=safetensors_reader_fuzz; dict="$root/fuzz/safetensors.dict"; max_len=4096
    python3 "$root/fuzz/make_safetensors_seeds.py" "$corpus" ;;
  request)
    binary=serve_request_fuzz; dict="$root/fuzz/serve_request.dict"; max_len=2048
    cp "$root"/fuzz/serve_seeds/* "$corpus"/ ;;
  *) echo "scripts/fuzz.sh: unknown target '$target' (gguf, safetensors, request)" >&2; exit 2 ;;
esac

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DJOULE_FUZZ=ON -DJOULE_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice cmake --build "$build" -j"${JOBS:-1}" --target "$binary"

"$build/fuzz/$binary" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
  -dict="$dict" -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus"
