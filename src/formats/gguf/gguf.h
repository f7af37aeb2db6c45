// GGUF v2/v3 reading (over mmap, validated before use) and writing.
// The format is documented at the top of reader.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"
#include "quant/types.h"

namespace joule::gguf {

enum class ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
std::string_view value_type_name(ValueType t);

// A metadata value. Integers of every width are held as int64_t/uint64_t, floats as double,
// with `type` keeping the on-disk type so a value round-trips through the writer unchanged.
struct Value {
  struct Array {
    ValueType elem_type = ValueType::kU8;
    std::vector<Value> items;  // for large string/number arrays see the typed getters below
  };
  ValueType type = ValueType::kU8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> v;

  std::string render(size_t max_chars = 80) const;  // short human form for `joule info`
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  DType type = DType::kF32;
  std::vector<int64_t> dims;  // ne[0] first: ne[0] is the contiguous row length
  uint64_t offset = 0;        // relative to the start of the data section
  size_t nbytes = 0;
  int64_t n_elements() const;
  int64_t n_rows() const { return n_elements() / (dims.empty() ? 1 : dims[0]); }
};

class File {
 public:
  // Opens, maps and fully validates the file; any inconsistency is a kFormat error whose message
  // names the file, the offending item and the limit it broke.
  static Expected<File> open(const std::string& path);
  // The same parsing and validation over bytes already in memory, which are borrowed and must
  // outlive the File; `name` stands in for the path in messages. Used by the fuzzer, where a
  // heap buffer of exactly the input size lets ASan catch any read past the end.
  static Expected<File> open_memory(std::string name, std::span<const uint8_t> bytes);
  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& path() const;
  uint32_t version() const;
  size_t file_size() const;
  size_t alignment() const;
  size_t data_offset() const;

  const std::vector<KeyValue>& metadata() const;  // in file order
  const Value* find(std::string_view key) const;

  // Typed getters: kNotFound if missing, kFormat if the stored type does not fit.
  Expected<std::string> get_string(std::string_view key) const;
  Expected<int64_t> get_int(std::string_view key) const;  // any integer type (u64 > INT64_MAX fails)
  Expected<double> get_float(std::string_view key) const;  // f32/f64 (ints accepted too)
  Expected<bool> get_bool(std::string_view key) const;
  Expected<std::vector<std::string>> get_string_array(std::string_view key) const;
  Expected<std::vector<float>> get_f32_array(std::string_view key) const;  // numeric arrays
  Expected<std::vector<int32_t>> get_i32_array(std::string_view key) const;  // integer arrays
  // Convenience: value or fallback when the key is absent (a wrong type is still an error).
  Expected<int64_t> get_int_or(std::string_view key, int64_t fallback) const;
  Expected<double> get_float_or(std::string_view key, double fallback) const;
  Expected<bool> get_bool_or(std::string_view key, bool fallback) const;

  const std::vector<TensorInfo>& tensors() const;
  const TensorInfo* find_tensor(std::string_view name) const;
  const uint8_t* tensor_data(const TensorInfo& t) const;  // points into the mapping
  // Whether [p, p + n) lies inside this file's mapping (never for open_memory).
  bool maps(const uint8_t* p, size_t n) const;
  // MappedFile::release for [p, p + n), which must be mapped (maps()).
  void release(const uint8_t* p, size_t n) const;

 private:
  struct Impl;
  explicit File(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Writer {
 public:
  explicit Writer(uint32_t version = 3, size_t alignment = 32);
  void set(std::string key, Value value);  // replaces an existing key, keeps first position
  void set_string(std::string key, std::string v);
  void set_u32(std::string key, uint32_t v);
  void set_i32(std::string key, int32_t v);
  void set_f32(std::string key, float v);
  void set_bool(std::string key, bool v);
  void set_string_array(std::string key, const std::vector<std::string>& v);
  void set_f32_array(std::string key, const std::vector<float>& v);
  void set_i32_array(std::string key, const std::vector<int32_t>& v);
  void copy_metadata_from(const File& f);  // every key except general.alignment
  // Data is copied; nbytes must equal row_bytes(type, dims[0]) * rows.
  Status add_tensor(std::string name, DType type, std::vector<int64_t> dims, const void* data,
                    size_t nbytes);
  // A tensor whose rows are produced while the file is written (fill(r, dst) writes row r's
  // row_bytes(type, dims[0]) bytes), so models larger than memory can be written. fill runs
  // on the calling thread of write(), rows in order; it must be callable until then.
  using RowFill = std::function<void(int64_t row, uint8_t* dst)>;
  Status add_tensor_rows(std::string name, DType type, std::vector<int64_t> dims, RowFill fill);
  Status write(const std::string& path) const;  // writes to path.tmp, then renames

 private:
  uint32_t version_;
  size_t alignment_;
  std::vector<KeyValue> kvs_;
  struct PendingTensor {
    TensorInfo info;
    std::vector<uint8_t> data;  // or, when empty, rows from fill
    RowFill fill;
  };
  Status check_new_tensor(const std::string& name, DType type, const std::vector<int64_t>& dims,
                          size_t* nbytes) const;
  std::vector<PendingTensor> tensors_;
};

}  // namespace joule::gguf
