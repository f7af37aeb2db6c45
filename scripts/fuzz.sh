#!/usr/bin/env bash
# Builds the GGUF reader fuzzer (clang + libFuzzer + ASan + UBSan) in build-fuzz/ and runs it for
# a bounded time on a generated seed corpus.
#
#   scripts/fuzz_gguf.sh [SECONDS]     default 60; JOBS=N for a parallel build (default 1)
#
# Exits non-zero if the fuzzer finds a crash, leak or timeout; the reproducing input is left in
# build-fuzz/gguf-artifacts/ (replay it with: build-fuzz/fuzz/gguf_reader_fuzz <file>).
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
corpus="$build/gguf-corpus"
artifacts="$build/gguf-artifacts"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DJOULE_FUZZ=ON -DJOULE_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice cmake --build "$build" -j"${JOBS:-1}" --target gguf_reader_fuzz

mkdir -p "$corpus" "$artifacts"
python3 "$root/fuzz/make_gguf_seeds.py" "$corpus"

# Inputs beyond a few KB add nothing a small file cannot reach and slow every execution down.
"$build/fuzz/gguf_reader_fuzz" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -dict="$root/fuzz/gguf.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus"
