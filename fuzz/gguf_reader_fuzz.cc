// libFuzzer target for the GGUF reader. File::open_memory runs exactly the parsing and validation
// of File::open, over libFuzzer's heap copy of the input, so ASan flags any read past its end.
// Whatever the reader accepts must then be safe to use without further checks: every value
// renders and converts, and every tensor's data lies inside the input.
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/gguf/gguf.h"

namespace {

// The typed getters on every key: each must answer with a value or a Status, never crash.
void query_every_key(const joule::gguf::File& f) {
  for (const joule::gguf::KeyValue& kv : f.metadata()) {
    (void)kv.value.render();
    (void)kv.value.render(8);
    (void)f.get_string(kv.key);
    (void)f.get_int(kv.key);
    (void)f.get_float(kv.key);
    (void)f.get_bool(kv.key);
    (void)f.get_string_array(kv.key);
    (void)f.get_f32_array(kv.key);
    (void)f.get_i32_array(kv.key);
    if (f.find(kv.key) != &kv.value) __builtin_trap();
  }
}

// Reads the first and last byte of each tensor and checks it lies inside the input.
uint32_t touch_every_tensor(const joule::gguf::File& f, std::span<const uint8_t> input) {
  uint32_t sum = 0;
  for (const joule::gguf::TensorInfo& t : f.tensors()) {
    const uint8_t* first = f.tensor_data(t);
    const uint8_t* end = first + t.nbytes;
    if (t.nbytes == 0 || first < input.data() || end > input.data() + input.size()) __builtin_trap();
    if (t.offset % f.alignment() != 0 || f.find_tensor(t.name) != &t) __builtin_trap();
    sum += first[0] + end[-1];
  }
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  auto f = joule::gguf::File::open_memory("fuzz.gguf", input);
  if (!f.ok()) return 0;
  query_every_key(*f);
  volatile uint32_t sink = touch_every_tensor(*f, input);  // keeps the reads from being dropped
  (void)sink;
  return 0;
}
