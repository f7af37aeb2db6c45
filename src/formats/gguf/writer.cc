// GGUF writer: the layout is documented at the top of reader.cc. Everything is validated before
// the first byte is written, so a Writer never produces a file the reader would reject.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "formats/gguf/gguf.h"
#include "formats/gguf/wire.h"

namespace joule::gguf {
namespace {

std::string errno_text(int err) { return std::system_category().message(err); }

template <class T>
bool holds(const Value& v) {
  return std::holds_alternative<T>(v.v);
}

template <class T>
bool fits(const Value& v) {
  if constexpr (std::is_unsigned_v<T>) {
    return holds<uint64_t>(v) && std::get<uint64_t>(v.v) <= std::numeric_limits<T>::max();
  } else {
    if (!holds<int64_t>(v)) return false;
    const int64_t x = std::get<int64_t>(v.v);
    return x >= std::numeric_limits<T>::min() && x <= std::numeric_limits<T>::max();
  }
}

// The variant alternative must be the one `type` implies and the number must fit its width;
// arrays must be homogeneous and no deeper than the reader accepts.
Status check_value(const Value& v, int depth) {
  bool ok = false;
  switch (v.type) {
    case ValueType::kU8: ok = fits<uint8_t>(v); break;
    case ValueType::kI8: ok = fits<int8_t>(v); break;
    case ValueType::kU16: ok = fits<uint16_t>(v); break;
    case ValueType::kI16: ok = fits<int16_t>(v); break;
    case ValueType::kU32: ok = fits<uint32_t>(v); break;
    case ValueType::kI32: ok = fits<int32_t>(v); break;
    case ValueType::kU64: ok = fits<uint64_t>(v); break;
    case ValueType::kI64: ok = fits<int64_t>(v); break;
    case ValueType::kF32:
    case ValueType::kF64: ok = holds<double>(v); break;
    case ValueType::kBool: ok = holds<bool>(v); break;
    case ValueType::kString: ok = holds<std::string>(v); break;
    case ValueType::kArray: {
      const auto* a = std::get_if<Value::Array>(&v.v);
      if (a == nullptr) break;
      if (depth + 1 > wire::kMaxArrayDepth) {
        return InvalidArgument("arrays nested more than " + std::to_string(wire::kMaxArrayDepth) +
                               " deep");
      }
      for (const Value& item : a->items) {
        if (item.type != a->elem_type) {
          return InvalidArgument("array of " + std::string(value_type_name(a->elem_type)) +
                                 " holds a " + std::string(value_type_name(item.type)));
        }
        JOULE_RETURN_IF_ERROR(check_value(item, depth + 1));
      }
      return Status::Ok();
    }
  }
  if (ok) return Status::Ok();
  return InvalidArgument("value does not match its type " + std::string(value_type_name(v.type)) +
                         " (wrong variant or out of range)");
}

// Little-endian serialisation of the header, metadata and tensor infos into memory.
class ByteSink {
 public:
  template <class T>
  void put(T x) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const uint8_t*>(&x);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void put_value(const Value& v);  // v must have passed check_value()
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

void ByteSink::put_value(const Value& v) {
  switch (v.type) {
    case ValueType::kU8: put(static_cast<uint8_t>(std::get<uint64_t>(v.v))); return;
    case ValueType::kI8: put(static_cast<int8_t>(std::get<int64_t>(v.v))); return;
    case ValueType::kU16: put(static_cast<uint16_t>(std::get<uint64_t>(v.v))); return;
    case ValueType::kI16: put(static_cast<int16_t>(std::get<int64_t>(v.v))); return;
    case ValueType::kU32: put(static_cast<uint32_t>(std::get<uint64_t>(v.v))); return;
    case ValueType::kI32: put(static_cast<int32_t>(std::get<int64_t>(v.v))); return;
    case ValueType::kU64: put(std::get<uint64_t>(v.v)); return;
    case ValueType::kI64: put(std::get<int64_t>(v.v)); return;
    case ValueType::kF32: put(static_cast<float>(std::get<double>(v.v))); return;
    case ValueType::kF64: put(std::get<double>(v.v)); return;
    case ValueType::kBool: put<uint8_t>(std::get<bool>(v.v) ? 1 : 0); return;
    case ValueType::kString: put_string(std::get<std::string>(v.v)); return;
    case ValueType::kArray: {
      const auto& a = std::get<Value::Array>(v.v);
      put(static_cast<uint32_t>(a.elem_type));
      put<uint64_t>(a.items.size());
      for (const Value& item : a.items) put_value(item);
      return;
    }
  }
}

// A FILE* that reports the first failure as a kIo Status naming the path and errno.
class OutFile {
 public:
  static Expected<OutFile> create(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return IoError(path + ": cannot create: " + errno_text(errno));
    return OutFile(path, f);
  }
  OutFile(OutFile&& o) noexcept : path_(std::move(o.path_)), f_(std::exchange(o.f_, nullptr)) {}
  OutFile& operator=(OutFile&&) = delete;
  ~OutFile() {
    if (f_ != nullptr) std::fclose(f_);
  }

  Status write(const void* data, size_t n) {
    if (n == 0 || std::fwrite(data, 1, n, f_) == n) return Status::Ok();
    return IoError(path_ + ": write failed: " + errno_text(errno));
  }
  Status pad_to(size_t offset_now, size_t alignment) {
    static constexpr uint8_t kZeros[256] = {};
    for (size_t left = wire::align_up(offset_now, alignment) - offset_now; left > 0;) {
      const size_t n = std::min(left, sizeof(kZeros));
      JOULE_RETURN_IF_ERROR(write(kZeros, n));
      left -= n;
    }
    return Status::Ok();
  }
  // Flushes and closes; a full disk often only shows up here.
  Status close() {
    const bool flushed = std::fflush(f_) == 0 && std::ferror(f_) == 0;
    const int flush_err = errno;
    const bool closed = std::fclose(f_) == 0;
    const int close_err = errno;
    f_ = nullptr;
    if (flushed && closed) return Status::Ok();
    return IoError(path_ + ": write failed: " + errno_text(flushed ? close_err : flush_err));
  }

 private:
  OutFile(std::string path, std::FILE* f) : path_(std::move(path)), f_(f) {}
  std::string path_;
  std::FILE* f_;
};

}  // namespace

Writer::Writer(uint32_t version, size_t alignment) : version_(version), alignment_(alignment) {}

void Writer::set(std::string key, Value value) {
  for (KeyValue& kv : kvs_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kvs_.push_back({std::move(key), std::move(value)});
}

void Writer::set_string(std::string key, std::string v) {
  set(std::move(key), {ValueType::kString, std::move(v)});
}
void Writer::set_u32(std::string key, uint32_t v) {
  set(std::move(key), {ValueType::kU32, uint64_t{v}});
}
void Writer::set_i32(std::string key, int32_t v) {
  set(std::move(key), {ValueType::kI32, int64_t{v}});
}
void Writer::set_f32(std::string key, float v) {
  set(std::move(key), {ValueType::kF32, double{v}});
}
void Writer::set_bool(std::string key, bool v) { set(std::move(key), {ValueType::kBool, v}); }

namespace {
template <class T>
Value make_array(ValueType elem_type, const std::vector<T>& xs) {
  Value::Array a{elem_type, {}};
  a.items.reserve(xs.size());
  for (const T& x : xs) a.items.push_back({elem_type, x});
  return {ValueType::kArray, std::move(a)};
}
}  // namespace

void Writer::set_string_array(std::string key, const std::vector<std::string>& v) {
  set(std::move(key), make_array(ValueType::kString, v));
}
void Writer::set_f32_array(std::string key, const std::vector<float>& v) {
  set(std::move(key), make_array(ValueType::kF32, std::vector<double>(v.begin(), v.end())));
}
void Writer::set_i32_array(std::string key, const std::vector<int32_t>& v) {
  set(std::move(key), make_array(ValueType::kI32, std::vector<int64_t>(v.begin(), v.end())));
}

void Writer::copy_metadata_from(const File& f) {
  // The alignment belongs to the file being written (the constructor's), not the source.
  for (const KeyValue& kv : f.metadata()) {
    if (kv.key != wire::kAlignmentKey) set(kv.key, kv.value);
  }
}

Status Writer::check_new_tensor(const std::string& name, DType type,
                                const std::vector<int64_t>& dims, size_t* nbytes) const {
  for (const PendingTensor& t : tensors_) {
    if (t.info.name == name) return InvalidArgument("gguf writer: duplicate tensor '" + name + "'");
  }
  auto expected = wire::tensor_nbytes(type, dims);
  if (!expected.ok()) {
    return InvalidArgument("gguf writer: tensor '" + name + "': " + expected.status().message());
  }
  *nbytes = *expected;
  return Status::Ok();
}

Status Writer::add_tensor_rows(std::string name, DType type, std::vector<int64_t> dims, RowFill fill) {
  size_t nbytes = 0;
  JOULE_RETURN_IF_ERROR(check_new_tensor(name, type, dims, &nbytes));
  PendingTensor t;
  t.info.name = std::move(name);
  t.info.type = type;
  t.info.dims = std::move(dims);
  t.info.nbytes = nbytes;
  t.fill = std::move(fill);
  tensors_.push_back(std::move(t));
  return Status::Ok();
}

Status Writer::add_tensor(std::string name, DType type, std::vector<int64_t> dims, const void* data,
                          size_t nbytes) {
  size_t expected = 0;
  JOULE_RETURN_IF_ERROR(check_new_tensor(name, type, dims, &expected));
  if (expected != nbytes) {
    return InvalidArgument("gguf writer: tensor '" + name + "' has " + std::to_string(nbytes) +
                           " bytes of data, its shape needs " + std::to_string(expected));
  }
  PendingTensor t;
  t.info.name = std::move(name);
  t.info.type = type;
  t.info.dims = std::move(dims);
  t.info.nbytes = nbytes;
  const auto* bytes = static_cast<const uint8_t*>(data);
  t.data.assign(bytes, bytes + nbytes);
  tensors_.push_back(std::move(t));
  return Status::Ok();
}

Status Writer::write(const std::string& path) const {
  if (version_ != 2 && version_ != 3) {
    return InvalidArgument("gguf writer: version " + std::to_string(version_) + " is not 2 or 3");
  }
  // At most 2^31 so it fits the u32 key and aligning offsets cannot overflow.
  if (!std::has_single_bit(alignment_) || alignment_ > (size_t{1} << 31)) {
    return InvalidArgument("gguf writer: alignment " + std::to_string(alignment_) +
                           " is not a power of two in 1..2^31");
  }
  std::vector<const KeyValue*> kvs;  // what goes into the file, in order
  for (const KeyValue& kv : kvs_) {
    if (kv.key == wire::kAlignmentKey) continue;  // the constructor's alignment wins
    if (Status s = check_value(kv.value, 0); !s.ok()) {
      return InvalidArgument("gguf writer: key '" + kv.key + "': " + s.message());
    }
    kvs.push_back(&kv);
  }
  const KeyValue alignment_kv{std::string(wire::kAlignmentKey),
                              {ValueType::kU32, uint64_t{alignment_}}};
  if (alignment_ != wire::kDefaultAlignment) kvs.push_back(&alignment_kv);

  ByteSink head;
  head.put(wire::kMagic);
  head.put(version_);
  head.put<uint64_t>(tensors_.size());
  head.put<uint64_t>(kvs.size());
  for (const KeyValue* kv : kvs) {
    head.put_string(kv->key);
    head.put(static_cast<uint32_t>(kv->value.type));
    head.put_value(kv->value);
  }
  size_t data_size = 0;
  for (const PendingTensor& t : tensors_) {
    head.put_string(t.info.name);
    head.put(static_cast<uint32_t>(t.info.dims.size()));
    for (int64_t d : t.info.dims) head.put<uint64_t>(d);
    head.put(static_cast<uint32_t>(t.info.type));
    head.put<uint64_t>(data_size);
    data_size = wire::align_up(data_size + t.info.nbytes, alignment_);
  }

  // A temporary name of this writer's own: writers of the same file at once (two processes, two
  // threads) each write theirs in full, and the last rename wins with a whole file.
  static std::atomic<unsigned> writes{0};
  const std::string tmp = path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(writes.fetch_add(1));
  Status s = [&]() -> Status {
    JOULE_ASSIGN_OR_RETURN(OutFile out, OutFile::create(tmp));
    JOULE_RETURN_IF_ERROR(out.write(head.bytes().data(), head.bytes().size()));
    JOULE_RETURN_IF_ERROR(out.pad_to(head.bytes().size(), alignment_));
    // Every tensor is padded, the last one too, as ggml does: readers may expect it.
    std::vector<uint8_t> rows;
    for (const PendingTensor& t : tensors_) {
      if (t.fill) {
        // About 4 MiB of rows per write.
        const size_t row = t.info.nbytes / static_cast<size_t>(t.info.n_rows());
        const int64_t per_write = std::max<int64_t>(1, static_cast<int64_t>((size_t{4} << 20) / row));
        for (int64_t r0 = 0; r0 < t.info.n_rows(); r0 += per_write) {
          const int64_t n = std::min(per_write, t.info.n_rows() - r0);
          rows.resize(static_cast<size_t>(n) * row);
          for (int64_t r = 0; r < n; ++r) t.fill(r0 + r, rows.data() + static_cast<size_t>(r) * row);
          JOULE_RETURN_IF_ERROR(out.write(rows.data(), rows.size()));
        }
      } else {
        JOULE_RETURN_IF_ERROR(out.write(t.data.data(), t.data.size()));
      }
      JOULE_RETURN_IF_ERROR(out.pad_to(t.info.nbytes, alignment_));
    }
    return out.close();
  }();
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = IoError(path + ": cannot rename " + tmp + " into place: " + errno_text(errno));
  }
  if (!s.ok()) std::remove(tmp.c_str());
  return s;
}

}  // namespace joule::gguf
