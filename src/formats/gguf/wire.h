// On-disk constants of GGUF shared by the reader and the writer (private to formats/gguf).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "formats/gguf/gguf.h"

namespace joule::gguf::wire {

// Fields are copied byte for byte into host integers.
static_assert(std::endian::native == std::endian::little, "GGUF I/O assumes a little-endian host");

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr size_t kDefaultAlignment = 32;
inline constexpr std::string_view kAlignmentKey = "general.alignment";
inline constexpr uint32_t kMaxDims = 4;
// An array may hold arrays whose elements are scalars or strings, nothing deeper: real files
// never nest further, and a bound keeps the recursive parser's stack depth fixed.
inline constexpr int kMaxArrayDepth = 2;

// Bytes of one value of a fixed-size type; 0 for string and array (variable length).
constexpr size_t scalar_bytes(ValueType t) {
  switch (t) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kBool:
      return 1;
    case ValueType::kU16:
    case ValueType::kI16:
      return 2;
    case ValueType::kU32:
    case ValueType::kI32:
    case ValueType::kF32:
      return 4;
    case ValueType::kU64:
    case ValueType::kI64:
    case ValueType::kF64:
      return 8;
    case ValueType::kString:
    case ValueType::kArray:
      return 0;
  }
  return 0;
}

constexpr bool is_known(uint32_t id) { return id <= static_cast<uint32_t>(ValueType::kF64); }

constexpr bool is_unsigned(ValueType t) {
  return t == ValueType::kU8 || t == ValueType::kU16 || t == ValueType::kU32 || t == ValueType::kU64;
}
constexpr bool is_signed(ValueType t) {
  return t == ValueType::kI8 || t == ValueType::kI16 || t == ValueType::kI32 || t == ValueType::kI64;
}
constexpr bool is_float(ValueType t) { return t == ValueType::kF32 || t == ValueType::kF64; }
constexpr bool is_integer(ValueType t) { return is_unsigned(t) || is_signed(t); }

constexpr size_t align_up(size_t n, size_t alignment) {  // alignment: a power of two
  return (n + alignment - 1) & ~(alignment - 1);
}

// Checks a tensor shape for `type` (1..4 dims, each >= 1, rows a whole number of blocks, no
// overflow) and returns the size of its data; a kFormat error names the rule that was broken.
Expected<size_t> tensor_nbytes(DType type, std::span<const int64_t> dims);

}  // namespace joule::gguf::wire
