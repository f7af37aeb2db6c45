// libFuzzer target for the safetensors reader. File::open_memory runs exactly the validation of
// File::open over libFuzzer's heap copy of the input, so ASan flags any read past its end.
// Whatever the reader accepts must be safe to use without further checks: every tensor's bytes
// lie inside the input, match its shape and dtype, and no two tensors overlap.
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/safetensors/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  auto f = joule::safetensors::File::open_memory("fuzz.safetensors", input);
  if (!f.ok()) return 0;
  uint32_t sum = 0;
  const uint8_t* prev_end = nullptr;
  for (const joule::safetensors::TensorInfo& t : f->tensors()) {
    const uint8_t* first = f->data(t);
    const uint8_t* end = first + t.nbytes();
    if (first < input.data() || end > input.data() + input.size()) __builtin_trap();
    if (t.nbytes() != static_cast<size_t>(t.n_elements()) * *joule::safetensors::dtype_bytes(t.dtype)) __builtin_trap();
    if (f->find(t.name) != &t) __builtin_trap();
    if (t.nbytes() == 0) continue;
    if (prev_end != nullptr && first < prev_end) __builtin_trap();
    prev_end = end;
    sum += first[0] + end[-1];
  }
  for (const auto& [k, v] : f->metadata()) sum += static_cast<uint32_t>(k.size() + v.size());
  volatile uint32_t sink = sum;  // keeps the reads from being dropped
  (void)sink;
  return 0;
}
