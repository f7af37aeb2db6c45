// GGUF: the single-file model format of ggml / llama.cpp. Layout (all little-endian, no implicit
// padding between fields):
//
//   header       char magic[4] = "GGUF", u32 version, u64 tensor_count, u64 kv_count
//   metadata     kv_count x { string key, u32 value_type, value }
//   tensor infos tensor_count x { string name, u32 n_dims, u64 dims[n_dims], u32 type, u64 offset }
//   padding      to a multiple of `general.alignment` (a u32 key; default 32; a power of two)
//   data         the tensors' bytes; each `offset` is relative to the start of this section and is
//                a multiple of the alignment
//
//   string       u64 byte length, then that many UTF-8 bytes (no terminator)
//   value        by value_type (ValueType in gguf.h): u8 i8 u16 i16 u32 i32 u64 i64 f32 f64,
//                bool (one byte, 0 or 1), string, or array = u32 element type, u64 count, elements
//   tensor       dims[0] is the contiguous row length (ggml's ne[0]); n_dims is 1..4; `type` is a
//                ggml type id (DType); a row is dims[0] / block_size blocks of block_bytes each
//
// Versions: v1 used u32 counts and lengths and is rejected (kUnsupported); v2 made them u64; v3 only
// added big-endian files, which show up here as a byte-swapped version and are rejected too.
//
// Everything is validated before any of it is used, so a File's tensors can be read without checks:
// each failure is a kFormat error "<path>: <item>: <what is wrong>" naming the limit that was broken.
// Counts from the file are checked against the bytes that remain before anything is reserved, so
// a corrupt count fails fast instead of allocating.
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "core/check.h"
#include "formats/gguf/gguf.h"
#include "formats/gguf/wire.h"
#include "formats/mmap_file.h"

namespace joule::gguf {
namespace {

// ggml's names of its tensor type ids (ggml.h, enum ggml_type; the gaps were removed there), so
// that a type joule does not load is named in the error, not only numbered.
std::string_view ggml_type_name(uint32_t id) {
  static constexpr std::string_view kNames[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2",   "Q4_3",  "Q5_0",  "Q5_1",  "Q8_0",     "Q8_1",  "Q2_K",
      "Q3_K",    "Q4_K",   "Q5_K",    "Q6_K",  "Q8_K",   "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
      "IQ3_S",   "IQ2_S",  "IQ4_XS",  "I8",    "I16",    "I32",   "I64",   "F64",   "IQ1_M",    "BF16",
      "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4",
      "NVFP4",   "Q1_0",   "Q2_0"};
  return id < std::size(kNames) ? kNames[id] : std::string_view();
}

// Smallest encodings, used to reject counts that cannot fit in the remaining bytes.
constexpr size_t kMinStringBytes = 8;                        // u64 length, empty text
constexpr size_t kMinArrayBytes = 4 + 8;                     // element type, count
constexpr size_t kMinKvBytes = kMinStringBytes + 4 + 1;      // key, type, a u8 value
constexpr size_t kMinTensorInfoBytes = kMinStringBytes + 4 + 8 + 4 + 8;  // one dimension

void append(std::string& s, std::string_view v) { s += v; }
void append(std::string& s, std::integral auto n) { s += std::to_string(n); }

template <class... Args>
std::string cat(const Args&... args) {
  std::string s;
  (append(s, args), ...);
  return s;
}

// Prefixes an error with the item it happened in: "tensor 'x': <message>".
Status in_context(std::string_view context, const Status& s) {
  return {s.code(), cat(context, ": ", s.message())};
}

// A name from the file for an error message, bounded in case the file is garbage.
std::string quoted(std::string_view name) {
  constexpr size_t kMaxShown = 64;
  if (name.size() <= kMaxShown) return cat("'", name, "'");
  return cat("'", name.substr(0, kMaxShown), "...'");
}

// Bounds-checked sequential reads over the file's bytes; every read goes through need().
// Reads fill an out-parameter and return a Status rather than an Expected<T>: a vocabulary is
// ~150k values, and the lighter return keeps open() fast in debug and sanitizer builds too.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  template <class T>
  Status read(T& out, std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    JOULE_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(&out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  // The view points into the file's bytes.
  Status string(std::string_view& out, std::string_view what) {
    uint64_t len = 0;
    JOULE_RETURN_IF_ERROR(read(len, what));
    JOULE_RETURN_IF_ERROR(need(len, what));
    out = {reinterpret_cast<const char*>(bytes_.data()) + pos_, static_cast<size_t>(len)};
    pos_ += len;
    return Status::Ok();
  }

 private:
  Status need(uint64_t n, std::string_view what) const {
    if (n <= remaining()) return Status::Ok();
    return FormatError(cat("truncated: ", what, " needs ", n, " bytes at offset ", pos_, " but only ",
                           remaining(), " remain"));
  }

  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

struct Header {
  uint32_t version = 0;
  uint64_t tensor_count = 0;
  uint64_t kv_count = 0;
};

Status check_version(uint32_t version) {
  if (version == 2 || version == 3) return Status::Ok();
  if (version == 1) {
    return Unsupported(
        "unsupported GGUF version 1 (v1 used 32-bit counts; re-convert the model with a current "
        "llama.cpp)");
  }
  const uint32_t swapped = __builtin_bswap32(version);
  if (swapped == 2 || swapped == 3) return Unsupported("big-endian GGUF files are not supported");
  return FormatError(cat("unsupported GGUF version ", version, " (expected 2 or 3)"));
}

Expected<Header> read_header(Cursor& cur) {
  const size_t file_size = cur.remaining();
  uint32_t magic = 0;
  JOULE_RETURN_IF_ERROR(cur.read(magic, "magic"));
  if (magic != wire::kMagic) return FormatError("not a GGUF file (bad magic)");
  Header h;
  JOULE_RETURN_IF_ERROR(cur.read(h.version, "version"));
  JOULE_RETURN_IF_ERROR(check_version(h.version));
  JOULE_RETURN_IF_ERROR(cur.read(h.tensor_count, "tensor count"));
  JOULE_RETURN_IF_ERROR(cur.read(h.kv_count, "kv count"));

  const size_t rest = cur.remaining();
  if (h.kv_count > rest / kMinKvBytes) {
    return FormatError(cat("kv count ", h.kv_count, " cannot fit in a file of ", file_size,
                           " bytes (truncated or corrupt header)"));
  }
  if (h.tensor_count > (rest - h.kv_count * kMinKvBytes) / kMinTensorInfoBytes) {
    return FormatError(cat("tensor count ", h.tensor_count, " cannot fit in a file of ", file_size,
                           " bytes (truncated or corrupt header)"));
  }
  return h;
}

Status read_value_type(Cursor& cur, ValueType& out, std::string_view what) {
  uint32_t id = 0;
  JOULE_RETURN_IF_ERROR(cur.read(id, what));
  if (!wire::is_known(id)) return FormatError(cat("unknown value type ", id));
  out = static_cast<ValueType>(id);
  return Status::Ok();
}

// Values are parsed in place (out.type set by the caller) so the elements of a large array are
// never moved after being read.
Status read_value(Cursor& cur, int depth, Value& out);

Status read_array(Cursor& cur, int depth, Value::Array& out) {
  if (depth > wire::kMaxArrayDepth) {
    return FormatError(cat("arrays nested more than ", wire::kMaxArrayDepth, " deep"));
  }
  JOULE_RETURN_IF_ERROR(read_value_type(cur, out.elem_type, "array element type"));
  uint64_t count = 0;
  JOULE_RETURN_IF_ERROR(cur.read(count, "array count"));

  const size_t fixed = wire::scalar_bytes(out.elem_type);
  const size_t min_elem_bytes = fixed ? fixed
                                : out.elem_type == ValueType::kString ? kMinStringBytes
                                                                      : kMinArrayBytes;
  if (count > cur.remaining() / min_elem_bytes) {
    return FormatError(cat("truncated: array of ", count, " ", value_type_name(out.elem_type),
                           " at offset ", cur.pos(), " needs at least ", min_elem_bytes,
                           " bytes each but only ", cur.remaining(), " remain"));
  }
  out.items.resize(count);  // bounded by the bytes left, checked above
  for (uint64_t i = 0; i < count; ++i) {
    Value& item = out.items[i];
    item.type = out.elem_type;
    if (Status s = read_value(cur, depth, item); !s.ok()) {
      return in_context(cat("array element ", i), s);
    }
  }
  return Status::Ok();
}

template <class Disk, class Held>
Status read_number(Cursor& cur, Value& out) {
  Disk x{};
  JOULE_RETURN_IF_ERROR(cur.read(x, value_type_name(out.type)));
  out.v.emplace<Held>(static_cast<Held>(x));
  return Status::Ok();
}

Status read_value(Cursor& cur, int depth, Value& out) {
  switch (out.type) {
    case ValueType::kU8: return read_number<uint8_t, uint64_t>(cur, out);
    case ValueType::kI8: return read_number<int8_t, int64_t>(cur, out);
    case ValueType::kU16: return read_number<uint16_t, uint64_t>(cur, out);
    case ValueType::kI16: return read_number<int16_t, int64_t>(cur, out);
    case ValueType::kU32: return read_number<uint32_t, uint64_t>(cur, out);
    case ValueType::kI32: return read_number<int32_t, int64_t>(cur, out);
    case ValueType::kU64: return read_number<uint64_t, uint64_t>(cur, out);
    case ValueType::kI64: return read_number<int64_t, int64_t>(cur, out);
    case ValueType::kF32: return read_number<float, double>(cur, out);
    case ValueType::kF64: return read_number<double, double>(cur, out);
    case ValueType::kBool: {
      uint8_t b = 0;
      JOULE_RETURN_IF_ERROR(cur.read(b, "bool"));
      if (b > 1) return FormatError(cat("bool value ", b, " is neither 0 nor 1"));
      out.v.emplace<bool>(b == 1);
      return Status::Ok();
    }
    case ValueType::kString: {
      std::string_view s;
      JOULE_RETURN_IF_ERROR(cur.string(s, "string"));
      out.v.emplace<std::string>(s);
      return Status::Ok();
    }
    case ValueType::kArray: return read_array(cur, depth + 1, out.v.emplace<Value::Array>());
  }
  return FormatError(cat("unknown value type ", static_cast<uint32_t>(out.type)));
}

Status read_kv(Cursor& cur, uint64_t index, KeyValue& out) {
  std::string_view key;
  if (Status s = cur.string(key, "key"); !s.ok()) return in_context(cat("metadata entry #", index), s);
  out.key = key;
  Status s = read_value_type(cur, out.value.type, "value type");
  if (s.ok()) s = read_value(cur, 0, out.value);
  if (!s.ok()) return in_context(cat("metadata key ", quoted(out.key)), s);
  return Status::Ok();
}

Status read_shape(Cursor& cur, TensorInfo& t) {
  uint32_t n_dims = 0;
  JOULE_RETURN_IF_ERROR(cur.read(n_dims, "n_dims"));
  // Checked before the loop as well as in tensor_nbytes() so a corrupt count cannot drive it.
  if (n_dims < 1 || n_dims > wire::kMaxDims) {
    return FormatError(cat("n_dims ", n_dims, " is outside 1..", wire::kMaxDims));
  }
  for (uint32_t i = 0; i < n_dims; ++i) {
    uint64_t d = 0;
    JOULE_RETURN_IF_ERROR(cur.read(d, "dimension"));
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return FormatError(cat("dimension ", i, " is ", d, ", more than 2^63-1"));
    }
    t.dims.push_back(static_cast<int64_t>(d));
  }
  uint32_t type_id = 0;
  JOULE_RETURN_IF_ERROR(cur.read(type_id, "tensor type"));
  const std::optional<DTypeTraits> tr = dtype_traits(type_id);
  if (!tr) {
    const std::string_view name = ggml_type_name(type_id);
    if (name.empty()) return FormatError(cat("unknown tensor type ", type_id));
    return Unsupported(cat(name, " (type ", type_id, ") is not supported yet"));
  }
  t.type = tr->type;
  JOULE_ASSIGN_OR_RETURN(t.nbytes, wire::tensor_nbytes(t.type, t.dims));
  return Status::Ok();
}

Status read_tensor_info(Cursor& cur, uint64_t index, TensorInfo& out) {
  std::string_view name;
  if (Status s = cur.string(name, "tensor name"); !s.ok()) return in_context(cat("tensor #", index), s);
  out.name = name;
  Status s = read_shape(cur, out);
  if (s.ok()) s = cur.read(out.offset, "tensor offset");
  if (!s.ok()) return in_context(cat("tensor ", quoted(out.name)), s);
  return Status::Ok();
}

Status check_placement(const TensorInfo& t, size_t alignment, size_t data_size) {
  if (t.offset % alignment != 0) {
    return FormatError(cat("tensor ", quoted(t.name), " offset ", t.offset,
                           " is not a multiple of the alignment ", alignment));
  }
  if (t.offset > data_size || t.nbytes > data_size - t.offset) {
    return FormatError(cat("tensor ", quoted(t.name), " data [offset ", t.offset, ", ", t.nbytes,
                           " bytes] exceeds the data section (", data_size, " bytes)"));
  }
  return Status::Ok();
}

Expected<size_t> alignment_of(const std::vector<KeyValue>& metadata) {
  for (const KeyValue& kv : metadata) {
    if (kv.key != wire::kAlignmentKey) continue;
    if (kv.value.type != ValueType::kU32) {
      return FormatError(cat(wire::kAlignmentKey, " has type ", value_type_name(kv.value.type),
                             ", expected u32"));
    }
    const uint64_t a = std::get<uint64_t>(kv.value.v);
    if (!std::has_single_bit(a)) {
      return FormatError(cat(wire::kAlignmentKey, " ", a, " is not a nonzero power of two"));
    }
    return static_cast<size_t>(a);
  }
  return wire::kDefaultAlignment;
}

// name -> position, rejecting duplicates. The views point into `items`, which must not change.
template <class T, class NameOf>
Expected<std::unordered_map<std::string_view, size_t>> index_by_name(const std::vector<T>& items,
                                                                     std::string_view what,
                                                                     NameOf name_of) {
  std::unordered_map<std::string_view, size_t> index;
  index.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& name = name_of(items[i]);
    if (!index.emplace(name, i).second) return FormatError(cat("duplicate ", what, " ", quoted(name)));
  }
  return index;
}

std::optional<double> as_double(const Value& v) {
  if (const auto* u = std::get_if<uint64_t>(&v.v)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&v.v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v.v)) return *d;
  return std::nullopt;
}

std::optional<int64_t> as_int64(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&v.v);
      u && *u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(*u);
  }
  return std::nullopt;
}

}  // namespace

struct File::Impl {
  std::string path;
  std::optional<MappedFile> mapping;  // empty for open_memory()
  std::span<const uint8_t> bytes;
  uint32_t version = 0;
  size_t alignment = wire::kDefaultAlignment;
  size_t data_offset = 0;
  std::vector<KeyValue> metadata;
  std::vector<TensorInfo> tensors;
  std::unordered_map<std::string_view, size_t> key_index;     // views into metadata
  std::unordered_map<std::string_view, size_t> tensor_index;  // views into tensors

  Status parse();
  Status locate_data(size_t end_of_infos);

  const Value* find(std::string_view key) const {
    auto it = key_index.find(key);
    return it == key_index.end() ? nullptr : &metadata[it->second].value;
  }
  Expected<const Value*> require(std::string_view key) const {
    if (const Value* v = find(key)) return v;
    return NotFound(cat(path, ": missing metadata key ", quoted(key)));
  }
  Status wrong_type(std::string_view key, const Value& v, std::string_view expected) const {
    const auto* a = std::get_if<Value::Array>(&v.v);
    return FormatError(cat(path, ": metadata key ", quoted(key), " has type ",
                           value_type_name(v.type), a ? " of " : "",
                           a ? value_type_name(a->elem_type) : "", ", expected ", expected));
  }
  // The array under `key` if its elements satisfy `fits(elem_type)`.
  template <class Pred>
  Expected<const Value::Array*> require_array(std::string_view key, std::string_view expected,
                                              Pred fits) const {
    JOULE_ASSIGN_OR_RETURN(const Value* v, require(key));
    const auto* a = std::get_if<Value::Array>(&v->v);
    if (a == nullptr || !fits(a->elem_type)) return wrong_type(key, *v, expected);
    return a;
  }
};

Status File::Impl::parse() {
  Cursor cur(bytes);
  JOULE_ASSIGN_OR_RETURN(const Header h, read_header(cur));
  version = h.version;

  metadata.resize(h.kv_count);  // bounded by the file size in read_header
  for (uint64_t i = 0; i < h.kv_count; ++i) JOULE_RETURN_IF_ERROR(read_kv(cur, i, metadata[i]));
  JOULE_ASSIGN_OR_RETURN(key_index, index_by_name(metadata, "metadata key",
                                                  [](const KeyValue& kv) -> auto& { return kv.key; }));
  JOULE_ASSIGN_OR_RETURN(alignment, alignment_of(metadata));

  tensors.resize(h.tensor_count);  // bounded by the file size in read_header
  for (uint64_t i = 0; i < h.tensor_count; ++i) {
    JOULE_RETURN_IF_ERROR(read_tensor_info(cur, i, tensors[i]));
  }
  JOULE_ASSIGN_OR_RETURN(tensor_index, index_by_name(tensors, "tensor name",
                                                     [](const TensorInfo& t) -> auto& { return t.name; }));
  return locate_data(cur.pos());
}

Status File::Impl::locate_data(size_t end_of_infos) {
  data_offset = wire::align_up(end_of_infos, alignment);
  if (data_offset > bytes.size()) {
    // Without tensors the data section is empty and its padding may be left off.
    if (tensors.empty()) {
      data_offset = bytes.size();
      return Status::Ok();
    }
    return FormatError(cat("truncated: the data section starts at offset ", data_offset,
                           ", past the end of the file (", bytes.size(), " bytes)"));
  }
  const size_t data_size = bytes.size() - data_offset;
  for (const TensorInfo& t : tensors) JOULE_RETURN_IF_ERROR(check_placement(t, alignment, data_size));
  return Status::Ok();
}

File::File(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

Expected<File> File::open(const std::string& path) {
  JOULE_ASSIGN_OR_RETURN(MappedFile mapping, MappedFile::open(path));
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->bytes = mapping.bytes();  // stays valid: moving a MappedFile keeps the mapping in place
  impl->mapping = std::move(mapping);
  if (Status s = impl->parse(); !s.ok()) return in_context(path, s);
  return File(std::move(impl));
}

Expected<File> File::open_memory(std::string name, std::span<const uint8_t> bytes) {
  auto impl = std::make_unique<Impl>();
  impl->path = std::move(name);
  impl->bytes = bytes;
  if (Status s = impl->parse(); !s.ok()) return in_context(impl->path, s);
  return File(std::move(impl));
}

const std::string& File::path() const { return impl_->path; }
uint32_t File::version() const { return impl_->version; }
size_t File::file_size() const { return impl_->bytes.size(); }
size_t File::alignment() const { return impl_->alignment; }
size_t File::data_offset() const { return impl_->data_offset; }
const std::vector<KeyValue>& File::metadata() const { return impl_->metadata; }
const Value* File::find(std::string_view key) const { return impl_->find(key); }
const std::vector<TensorInfo>& File::tensors() const { return impl_->tensors; }

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

const uint8_t* File::tensor_data(const TensorInfo& t) const {
  return impl_->bytes.data() + impl_->data_offset + t.offset;
}

bool File::maps(const uint8_t* p, size_t n) const {
  if (!impl_->mapping) return false;
  const std::span<const uint8_t> all = impl_->mapping->bytes();
  // Compared as integers: pointers into other objects are not ordered by the language.
  const auto at = reinterpret_cast<uintptr_t>(p), lo = reinterpret_cast<uintptr_t>(all.data());
  return at >= lo && at - lo <= all.size() && n <= all.size() - (at - lo);
}

void File::release(const uint8_t* p, size_t n) const {
  JOULE_CHECK(maps(p, n));
  impl_->mapping->release(p, n);
}

Expected<std::string> File::get_string(std::string_view key) const {
  JOULE_ASSIGN_OR_RETURN(const Value* v, impl_->require(key));
  if (const auto* s = std::get_if<std::string>(&v->v)) return *s;
  return impl_->wrong_type(key, *v, "string");
}

Expected<int64_t> File::get_int(std::string_view key) const {
  JOULE_ASSIGN_OR_RETURN(const Value* v, impl_->require(key));
  if (!wire::is_integer(v->type)) return impl_->wrong_type(key, *v, "an integer");
  if (const std::optional<int64_t> i = as_int64(*v)) return *i;
  return FormatError(cat(impl_->path, ": metadata key ", quoted(key), " value ", v->render(),
                         " does not fit in int64"));
}

Expected<double> File::get_float(std::string_view key) const {
  JOULE_ASSIGN_OR_RETURN(const Value* v, impl_->require(key));
  if (const std::optional<double> d = as_double(*v)) return *d;
  return impl_->wrong_type(key, *v, "a number");
}

Expected<bool> File::get_bool(std::string_view key) const {
  JOULE_ASSIGN_OR_RETURN(const Value* v, impl_->require(key));
  if (const auto* b = std::get_if<bool>(&v->v)) return *b;
  return impl_->wrong_type(key, *v, "bool");
}

Expected<std::vector<std::string>> File::get_string_array(std::string_view key) const {
  JOULE_ASSIGN_OR_RETURN(const Value::Array* a,
                         impl_->require_array(key, "an array of strings",
                                              [](ValueType t) { return t == ValueType::kString; }));
  std::vector<std::string> out;
  out.reserve(a->items.size());
  for (const Value& item : a->items) out.push_back(std::get<std::string>(item.v));
  return out;
}

Expected<std::vector<float>> File::get_f32_array(std::string_view key) const {
  JOULE_ASSIGN_OR_RETURN(
      const Value::Array* a,
      impl_->require_array(key, "an array of numbers",
                           [](ValueType t) { return wire::is_integer(t) || wire::is_float(t); }));
  std::vector<float> out;
  out.reserve(a->items.size());
  for (const Value& item : a->items) out.push_back(static_cast<float>(*as_double(item)));
  return out;
}

Expected<std::vector<int32_t>> File::get_i32_array(std::string_view key) const {
  JOULE_ASSIGN_OR_RETURN(const Value::Array* a,
                         impl_->require_array(key, "an array of integers", wire::is_integer));
  std::vector<int32_t> out;
  out.reserve(a->items.size());
  for (size_t i = 0; i < a->items.size(); ++i) {
    const std::optional<int64_t> x = as_int64(a->items[i]);
    if (!x || *x < std::numeric_limits<int32_t>::min() || *x > std::numeric_limits<int32_t>::max()) {
      return FormatError(cat(impl_->path, ": metadata key ", quoted(key), " element ", i, " (",
                             a->items[i].render(), ") is outside the int32 range"));
    }
    out.push_back(static_cast<int32_t>(*x));
  }
  return out;
}

Expected<int64_t> File::get_int_or(std::string_view key, int64_t fallback) const {
  return find(key) ? get_int(key) : fallback;
}

Expected<double> File::get_float_or(std::string_view key, double fallback) const {
  return find(key) ? get_float(key) : fallback;
}

Expected<bool> File::get_bool_or(std::string_view key, bool fallback) const {
  return find(key) ? get_bool(key) : fallback;
}

}  // namespace joule::gguf
