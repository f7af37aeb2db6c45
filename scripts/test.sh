#!/usr/bin/env bash
# The test run (README quick start; .ci/run calls it): setup with the llama.cpp peer, the unit
# and parity tests, the unit tests again under ASan + UBSan, and a bounded fuzz of the GGUF and
# safetensors readers and of joule serve's request parsing.
#   JOULE_FUZZ_SECONDS (default 60), JOULE_SKIP_SANITIZE=1 / JOULE_SKIP_FUZZ=1 to shorten local runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="$(nproc)"
log() { echo "[test] $*" >&2; }

# The run needs about 8 GiB of disk at its peak (builds, the peer, the parity models, one Hugging
# Face folder at a time); say so up front rather than fail mid-build with ENOSPC.
free_gib=$(( $(df -Pk . | awk 'NR == 2 {print $4}') / 1048576 ))
(( free_gib >= 8 )) || log "warning: only ${free_gib} GiB free on $(df -P . | awk 'NR == 2 {print $6}'); the run may need 8"

scripts/setup.sh --peer
log "unit + parity tests (Release)"
ctest --test-dir build --output-on-failure -j "$JOBS"

if [[ "${JOULE_SKIP_SANITIZE:-0}" != 1 ]]; then
  log "unit tests under ASan + UBSan"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DJOULE_SANITIZE=ON -DJOULE_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$JOBS" >build-asan/build.log 2>&1 \
    || { tail -40 build-asan/build.log >&2; exit 1; }
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" -L unit
fi

if [[ "${JOULE_SKIP_FUZZ:-0}" != 1 ]]; then
  log "fuzzing the GGUF reader for ${JOULE_FUZZ_SECONDS:-60} s"
  scripts/fuzz.sh gguf "${JOULE_FUZZ_SECONDS:-60}"
  log "fuzzing the safetensors reader for ${JOULE_FUZZ_SECONDS:-60} s"
  scripts/fuzz.sh safetensors "${JOULE_FUZZ_SECONDS:-60}"
  log "fuzzing joule serve's request parsing for ${JOULE_FUZZ_SECONDS:-60} s"
  scripts/fuzz.sh request "${JOULE_FUZZ_SECONDS:-60}"
fi
log "all tests passed"
