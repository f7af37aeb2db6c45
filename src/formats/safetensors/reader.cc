// safetensors (github.com/huggingface/safetensors), all little-endian:
//
//   u64 N         the header's length in bytes
//   header        N bytes of UTF-8 JSON: an object whose keys are tensor names, each
//                 {"dtype": "F16", "shape": [rows, cols], "data_offsets": [begin, end]}, and
//                 optionally "__metadata__": {string: string}
//   data          the rest of the file; each tensor's bytes are [begin, end) relative to its start,
//                 row-major (C order), so shape.back() is the contiguous dimension
//
// Validated before use, as the reference implementation does (and a little more): N fits the file
// and a 100 MB cap; the header is a JSON object; every entry has a known dtype, a shape of
// non-negative integers whose element count times the dtype's size equals end - begin without
// overflow, begin <= end <= the data size; no two tensors overlap. Each failure is a kFormat error
// "<path>: tensor '<name>': <what is wrong>".
#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "formats/mmap_file.h"
#include "formats/safetensors/safetensors.h"

namespace joule::safetensors {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit

Status format_error(const std::string& path, const std::string& what) { return FormatError(path + ": " + what); }

// One tensor entry of the header, checked on its own (overlaps are checked over all of them).
Expected<TensorInfo> parse_entry(const std::string& path, const std::string& name, const json& e, uint64_t data_size) {
  const std::string where = "tensor '" + name + "': ";
  if (!e.is_object()) return format_error(path, where + "its entry is not an object");
  const auto dtype = e.find("dtype");
  const auto shape = e.find("shape");
  const auto offsets = e.find("data_offsets");
  if (dtype == e.end() || !dtype->is_string()) return format_error(path, where + "no \"dtype\" string");
  if (shape == e.end() || !shape->is_array()) return format_error(path, where + "no \"shape\" array");
  if (offsets == e.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned())
    return format_error(path, where + "\"data_offsets\" must be two non-negative integers");
  TensorInfo t;
  t.name = name;
  t.dtype = dtype->get<std::string>();
  const std::optional<size_t> elem = dtype_bytes(t.dtype);
  if (!elem) return format_error(path, where + "unknown dtype '" + t.dtype + "'");
  if (t.dtype == "F32") t.type = DType::kF32;
  if (t.dtype == "F16") t.type = DType::kF16;
  if (t.dtype == "BF16") t.type = DType::kBF16;
  uint64_t n = 1;
  for (const json& d : *shape) {
    if (!d.is_number_unsigned()) return format_error(path, where + "shape entries must be non-negative integers");
    const uint64_t v = d.get<uint64_t>();
    if (v > uint64_t(std::numeric_limits<int64_t>::max()) || (v != 0 && n > data_size / v))
      return format_error(path, where + "its shape holds more elements than the file has bytes");
    n *= v;
    t.shape.push_back(static_cast<int64_t>(v));
  }
  t.begin = (*offsets)[0].get<uint64_t>();
  t.end = (*offsets)[1].get<uint64_t>();
  if (t.begin > t.end || t.end > data_size)
    return format_error(path, where + "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                  "] are not a range inside the " + std::to_string(data_size) + " data bytes");
  // n <= data_size (checked above), so n * elem (elem <= 8) cannot overflow.
  if (n * *elem != t.end - t.begin)
    return format_error(path, where + "shape and dtype " + t.dtype + " need " + std::to_string(n * *elem) +
                                  " bytes, its data_offsets span " + std::to_string(t.end - t.begin));
  return t;
}

}  // namespace

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::optional<size_t> dtype_bytes(std::string_view dtype) {
  static constexpr std::pair<std::string_view, size_t> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  for (const auto& [name, bytes] : kSizes)
    if (name == dtype) return bytes;
  return std::nullopt;
}

struct File::Impl {
  std::string path;
  std::optional<MappedFile> mapping;  // empty for open_memory()
  std::span<const uint8_t> bytes;
  const uint8_t* data = nullptr;  // start of the data section
  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;
  std::map<std::string, size_t, std::less<>> by_name;

  Status parse();
};

Status File::Impl::parse() {
  if (bytes.size() < 8) return format_error(path, "shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | bytes[size_t(i)];
  if (n > bytes.size() - 8 || n > kMaxHeaderBytes)
    return format_error(path, "header length " + std::to_string(n) + " exceeds the file (" +
                                  std::to_string(bytes.size()) + " bytes) or the 100 MB limit");
  const auto* text = reinterpret_cast<const char*>(bytes.data() + 8);
  const json header = json::parse(text, text + n, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) return format_error(path, "the header is not a JSON object");
  const uint64_t data_size = bytes.size() - 8 - n;
  data = bytes.data() + 8 + n;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return format_error(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) return format_error(path, "__metadata__ value of '" + k + "' is not a string");
        metadata[k] = v.get<std::string>();
      }
      continue;
    }
    JOULE_ASSIGN_OR_RETURN(TensorInfo t, parse_entry(path, name, entry, data_size));
    tensors.push_back(std::move(t));
  }
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 0; i < tensors.size(); ++i) {
    // Empty tensors own no bytes; any other tensor must start at or after the previous one's end.
    if (i > 0 && tensors[i].nbytes() > 0 && tensors[i].begin < tensors[i - 1].end)
      return format_error(path, "tensors '" + tensors[i - 1].name + "' and '" + tensors[i].name + "' overlap");
    by_name[tensors[i].name] = i;
  }
  return Status::Ok();
}

File::File(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

Expected<File> File::open(const std::string& path) {
  JOULE_ASSIGN_OR_RETURN(MappedFile m, MappedFile::open(path));
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->mapping.emplace(std::move(m));
  impl->bytes = impl->mapping->bytes();
  JOULE_RETURN_IF_ERROR(impl->parse());
  return File(std::move(impl));
}

Expected<File> File::open_memory(std::string name, std::span<const uint8_t> bytes) {
  auto impl = std::make_unique<Impl>();
  impl->path = std::move(name);
  impl->bytes = bytes;
  JOULE_RETURN_IF_ERROR(impl->parse());
  return File(std::move(impl));
}

const std::string& File::path() const { return impl_->path; }
const std::map<std::string, std::string>& File::metadata() const { return impl_->metadata; }
const std::vector<TensorInfo>& File::tensors() const { return impl_->tensors; }

const TensorInfo* File::find(std::string_view name) const {
  const auto it = impl_->by_name.find(name);
  return it == impl_->by_name.end() ? nullptr : &impl_->tensors[it->second];
}

const uint8_t* File::data(const TensorInfo& t) const { return impl_->data + t.begin; }

bool File::maps(const uint8_t* p, size_t n) const {
  if (!impl_->mapping || impl_->mapping->size() == 0) return false;
  const uint8_t* b = impl_->mapping->data();
  return p >= b && n <= impl_->mapping->size() && size_t(p - b) <= impl_->mapping->size() - n;
}

void File::release(const uint8_t* p, size_t n) const { impl_->mapping->release(p, n); }

}  // namespace joule::safetensors
