#include "quant/types.h"

#include <array>

#include "core/check.h"

namespace joule {
namespace {

constexpr std::array<DTypeTraits, 10> kTraits = {{
    {DType::kF32, "f32", 1, 4, false},
    {DType::kF16, "f16", 1, 2, false},
    {DType::kQ4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0), true},
    {DType::kQ4_1, "q4_1", kQK4_1, sizeof(BlockQ4_1), true},
    {DType::kQ8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0), true},
    {DType::kQ8_1, "q8_1", kQK8_1, sizeof(BlockQ8_1), true},
    {DType::kQ4_K, "q4_k", kQK_K, sizeof(BlockQ4_K), true},
    {DType::kQ6_K, "q6_k", kQK_K, sizeof(BlockQ6_K), true},
    {DType::kQ8_K, "q8_k", kQK_K, sizeof(BlockQ8_K), true},
    {DType::kBF16, "bf16", 1, 2, false},
}};

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t id) {
  for (const auto& t : kTraits)
    if (static_cast<uint32_t>(t.type) == id) return t;
  return std::nullopt;
}

const DTypeTraits& traits(DType t) {
  for (const auto& tr : kTraits)
    if (tr.type == t) return tr;
  JOULE_CHECK(false && "unknown DType");
  std::abort();
}

std::string_view dtype_name(DType t) { return traits(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& t : kTraits)
    if (t.name == name) return t.type;
  return std::nullopt;
}

}  // namespace joule
