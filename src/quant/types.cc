#include "quant/types.h"

#include <array>

#include "core/check.h"

namespace joule {
namespace {

constexpr std::array<DTypeTraits, 21> kTraits = {{
    {DType::kF32, "f32", 1, 4, false, 0},
    {DType::kF16, "f16", 1, 2, false, 0},
    {DType::kQ4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0), true, 0},
    {DType::kQ4_1, "q4_1", kQK4_1, sizeof(BlockQ4_1), true, 0},
    {DType::kQ5_0, "q5_0", kQK5_0, sizeof(BlockQ5_0), true, 0},
    {DType::kQ5_1, "q5_1", kQK5_1, sizeof(BlockQ5_1), true, 0},
    {DType::kQ8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0), true, 0},
    {DType::kQ8_1, "q8_1", kQK8_1, sizeof(BlockQ8_1), true, 0},
    {DType::kQ2_K, "q2_k", kQK_K, sizeof(BlockQ2_K), true, 0},
    {DType::kQ3_K, "q3_k", kQK_K, sizeof(BlockQ3_K), true, 0},
    {DType::kQ4_K, "q4_k", kQK_K, sizeof(BlockQ4_K), true, 0},
    {DType::kQ5_K, "q5_k", kQK_K, sizeof(BlockQ5_K), true, 0},
    {DType::kQ6_K, "q6_k", kQK_K, sizeof(BlockQ6_K), true, 0},
    {DType::kQ8_K, "q8_k", kQK_K, sizeof(BlockQ8_K), true, 0},
    {DType::kBF16, "bf16", 1, 2, false, 0},
    {DType::kI8_CH, "i8_ch", kQKI8, kQKI8, true, sizeof(RowHeaderI8)},
    {DType::kI8_DYN, "i8_dyn", kQKI8, kQKI8, true, sizeof(RowHeaderI8)},
    {DType::kI8_ACT, "i8_act", kQKI8, kQKI8, true, sizeof(RowHeaderI8)},
    {DType::kF16_S24, "f16_s24", kQKS24, sizeof(BlockF16S24), true, 0},
    {DType::kQ4_G128, "q4_g128", kQKG128, sizeof(BlockQ4G128), true, 0},
    {DType::kQ4_G128Z, "q4_g128z", kQKG128, sizeof(BlockQ4G128Z), true, 0},
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
