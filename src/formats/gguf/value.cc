// Value helpers shared by the reader, the writer and `joule info`.
#include <charconv>
#include <string>

#include "formats/gguf/gguf.h"
#include "formats/gguf/wire.h"

namespace joule::gguf {
namespace {

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Control characters are escaped so a token like "\n" cannot break a line of `joule info`.
void append_escaped(std::string& out, char c) {
  switch (c) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    default: break;
  }
  const auto u = static_cast<unsigned char>(c);
  if (u < 0x20 || u == 0x7F) {
    constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[u >> 4];
    out += kHex[u & 0xF];
    return;
  }
  out += c;
}

// `"text"`, or `"te..."` cut on a character boundary so the result fits in max_chars.
std::string render_string(std::string_view s, size_t max_chars) {
  const size_t limit = max_chars > 2 ? max_chars - 2 : 0;  // room inside the quotes
  const size_t cut_budget = limit > 3 ? limit - 3 : 0;     // leaves room for "..."
  std::string out;
  size_t cut = 0;  // longest prefix within cut_budget that ends before a character starts
  for (char c : s) {
    if (!is_utf8_continuation(c) && out.size() <= cut_budget) cut = out.size();
    append_escaped(out, c);
    if (out.size() > limit) {
      out.resize(cut);
      out += "...";
      break;
    }
  }
  return '"' + out + '"';
}

template <class T>
std::string shortest(T x) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), x);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

// "[1, 2, 3]" when that fits, else "[N x type]" (always the case for a vocabulary).
std::string render_array(const Value::Array& a, size_t max_chars) {
  std::string out = "[";
  for (const Value& item : a.items) {
    if (out.size() > 1) out += ", ";
    out += item.render(max_chars);
    if (out.size() + 1 > max_chars) {
      return std::string("[") + std::to_string(a.items.size()) + " x " +
             std::string(value_type_name(a.elem_type)) + "]";
    }
  }
  return out + "]";
}

}  // namespace

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kU8: return "u8";
    case ValueType::kI8: return "i8";
    case ValueType::kU16: return "u16";
    case ValueType::kI16: return "i16";
    case ValueType::kU32: return "u32";
    case ValueType::kI32: return "i32";
    case ValueType::kF32: return "f32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kU64: return "u64";
    case ValueType::kI64: return "i64";
    case ValueType::kF64: return "f64";
  }
  return "unknown";
}

std::string Value::render(size_t max_chars) const {
  if (const auto* s = std::get_if<std::string>(&v)) return render_string(*s, max_chars);
  if (const auto* a = std::get_if<Array>(&v)) return render_array(*a, max_chars);
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* u = std::get_if<uint64_t>(&v)) return std::to_string(*u);
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  const double d = std::get<double>(v);
  // An f32 is shown at float precision: 1e-05, not 9.999999747378752e-06.
  return type == ValueType::kF32 ? shortest(static_cast<float>(d)) : shortest(d);
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;  // the reader and the writer reject products that overflow
  return n;
}

namespace wire {

Expected<size_t> tensor_nbytes(DType type, std::span<const int64_t> dims) {
  if (dims.empty() || dims.size() > kMaxDims) {
    return FormatError("n_dims " + std::to_string(dims.size()) + " is outside 1.." +
                       std::to_string(kMaxDims));
  }
  int64_t rows = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    // 0 is rejected too: an empty tensor holds nothing and would make n_rows() divide by zero.
    if (dims[i] < 1) {
      return FormatError("dimension " + std::to_string(i) + " is " + std::to_string(dims[i]) +
                         ", must be at least 1");
    }
    if (i > 0 && __builtin_mul_overflow(rows, dims[i], &rows)) {
      return FormatError("element count overflows 64 bits");
    }
  }
  const DTypeTraits& tr = traits(type);
  if (dims[0] % tr.block_size != 0) {
    return FormatError("row length " + std::to_string(dims[0]) + " is not a multiple of the " +
                       std::string(tr.name) + " block size " + std::to_string(tr.block_size));
  }
  int64_t n_elements = 0;
  size_t row_nbytes = 0;
  size_t nbytes = 0;
  // row_bytes() itself does not check for overflow, hence the spelled-out products.
  if (__builtin_mul_overflow(rows, dims[0], &n_elements) ||
      __builtin_mul_overflow(static_cast<size_t>(dims[0] / tr.block_size), tr.block_bytes,
                             &row_nbytes) ||
      __builtin_add_overflow(row_nbytes, tr.row_header_bytes, &row_nbytes) ||
      __builtin_mul_overflow(row_nbytes, static_cast<size_t>(rows), &nbytes)) {
    return FormatError("element count or data size overflows 64 bits");
  }
  return nbytes;
}

}  // namespace wire
}  // namespace joule::gguf
