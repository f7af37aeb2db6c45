// safetensors reading (over mmap, validated before use): the weight format of Hugging Face
// checkpoints. The format is documented at the top of reader.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "quant/types.h"

namespace joule::safetensors {

struct TensorInfo {
  std::string name;
  std::string dtype;            // as in the file: "F32", "BF16", "I64", ...
  std::optional<DType> type;    // F32, F16 and BF16, the float types joule multiplies; else none
  std::vector<int64_t> shape;   // PyTorch order: shape.back() is the contiguous row length
  uint64_t begin = 0, end = 0;  // byte range, relative to the start of the data section
  size_t nbytes() const { return static_cast<size_t>(end - begin); }
  int64_t n_elements() const;
};

class File {
 public:
  // Opens, maps and validates the whole header; any inconsistency is a kFormat error naming the
  // file, the tensor and the rule it broke.
  static Expected<File> open(const std::string& path);
  // The same over bytes in memory (borrowed; they must outlive the File), for the fuzzer.
  static Expected<File> open_memory(std::string name, std::span<const uint8_t> bytes);
  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& path() const;
  const std::map<std::string, std::string>& metadata() const;  // "__metadata__"
  const std::vector<TensorInfo>& tensors() const;               // in data order
  const TensorInfo* find(std::string_view name) const;
  const uint8_t* data(const TensorInfo& t) const;  // points into the mapping
  bool maps(const uint8_t* p, size_t n) const;
  void release(const uint8_t* p, size_t n) const;

 private:
  struct Impl;
  explicit File(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Bytes per element of a safetensors dtype name; nullopt for names the format does not define.
std::optional<size_t> dtype_bytes(std::string_view dtype);

}  // namespace joule::safetensors
