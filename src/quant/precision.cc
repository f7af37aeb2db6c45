#include "quant/precision.h"

namespace joule {

const std::vector<Precision>& precisions() {
  static const std::vector<Precision> kAll = {
      {"f32", DType::kF32, "32-bit float weights", true},
      {"f16", DType::kF16, "16-bit float weights, f32 activations and accumulation (FP16 mixed precision)", true},
      {"bf16", DType::kBF16, "bfloat16 weights, f32 activations and accumulation", true},
      {"q8_0", DType::kQ8_0, "int8 blocks of 32 with an f16 scale (llama.cpp Q8_0; activations int8 per block)", true},
      {"int8", DType::kI8_CH, "int8 per output channel with an f32 scale, weight-only (f32 activations)", false},
      {"int8-dynamic", DType::kI8_DYN, "int8 per output channel; activations quantized to int8 per token at run time (W8A8)", false},
      {"q4_0", DType::kQ4_0, "int4 groups of 32, f16 scale, symmetric (llama.cpp Q4_0)", true},
      {"q4_1", DType::kQ4_1, "int4 groups of 32, f16 scale and zero point (llama.cpp Q4_1)", true},
      {"q5_0", DType::kQ5_0, "5-bit groups of 32, f16 scale, symmetric (llama.cpp Q5_0)", true},
      {"q5_1", DType::kQ5_1, "5-bit groups of 32, f16 scale and zero point (llama.cpp Q5_1)", true},
      {"q2_k", DType::kQ2_K, "2-bit k-quant super-blocks of 256, 4-bit scales and mins per 16 (llama.cpp Q2_K)", true},
      {"q3_k", DType::kQ3_K, "3-bit k-quant super-blocks of 256, 6-bit scales per 16 (llama.cpp Q3_K)", true},
      {"q4_k", DType::kQ4_K, "int4 k-quant super-blocks of 256 (llama.cpp Q4_K)", true},
      {"q5_k", DType::kQ5_K, "5-bit k-quant super-blocks of 256, 6-bit scales and mins per 32 (llama.cpp Q5_K)", true},
      {"q6_k", DType::kQ6_K, "6-bit k-quant super-blocks of 256 (llama.cpp Q6_K)", true},
      {"int4-g128", DType::kQ4_G128, "int4 groups of 128, f16 scale, symmetric (rows that are not a multiple of 128: q4_0)", false},
      {"int4-g128-zp", DType::kQ4_G128Z, "int4 groups of 128, f16 scale and zero point (rows that are not a multiple of 128: q4_1)", false},
      {"sparse-2:4", DType::kF16_S24, "2:4 magnitude-pruned linear weights (no fine-tuning), kept values f16, f32 activations; the embedding stays f16", false},
  };
  return kAll;
}

namespace {

// Other spellings people bring: joule's own shorthands and llama.cpp's presets (llama-quantize's
// type names). `note` is said when the alias does not mean exactly the same thing.
struct PrecisionAlias {
  std::string_view alias;  // lower case
  std::string_view name;
  std::string_view note;
};
constexpr PrecisionAlias kAliases[] = {
    // "int4" is the llama.cpp-compatible group-32 symmetric format; g32 names are q4_0 / q4_1.
    {"int4", "q4_0", ""},
    {"int4-g32", "q4_0", ""},
    {"int4-g32-zp", "q4_1", ""},
    {"fp32", "f32", ""},
    {"fp16", "f16", ""},
    {"q4_k_m", "q4_k",
     "llama.cpp's Q4_K_M keeps half of attn_v and ffn_down in Q6_K; joule's q4_k is Q4_K in every matrix "
     "(a policy file can mix them: docs/precisions.md)"},
    {"q4_k_s", "q4_k", "llama.cpp's Q4_K_S mixes in a few Q5_K matrices; joule's q4_k is Q4_K in every matrix"},
    {"q2_k_s", "q2_k", "llama.cpp's Q2_K_S is made with an importance matrix; joule's q2_k is Q2_K in every matrix"},
    {"q3_k_s", "q3_k", ""},
    {"q3_k_m", "q3_k",
     "llama.cpp's Q3_K_M keeps attn_v, attn_output and ffn_down in Q4_K/Q5_K; joule's q3_k is Q3_K in every matrix"},
    {"q3_k_l", "q3_k",
     "llama.cpp's Q3_K_L keeps attn_v, attn_output and ffn_down in Q5_K; joule's q3_k is Q3_K in every matrix"},
    {"q5_k_s", "q5_k", ""},
    {"q5_k_m", "q5_k", "llama.cpp's Q5_K_M keeps half of attn_v and ffn_down in Q6_K; joule's q5_k is Q5_K in every matrix"},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace

std::optional<Precision> find_precision(std::string_view name, std::string* note) {
  std::string key = lower(name);
  for (const PrecisionAlias& a : kAliases)
    if (key == a.alias) {
      if (note != nullptr && !a.note.empty())
        *note = std::string(name) + " is taken as " + std::string(a.name) + ": " + std::string(a.note);
      key = a.name;
    }
  for (const Precision& p : precisions())
    if (p.name == key || dtype_name(p.type) == key) return p;
  return std::nullopt;
}

std::string_view precision_name(DType t) {
  for (const Precision& p : precisions())
    if (p.type == t) return p.name;
  return dtype_name(t);
}

std::optional<DType> fitting_type(DType wanted, int64_t cols) {
  if (cols % traits(wanted).block_size == 0) return wanted;
  std::optional<DType> fallback;
  switch (wanted) {
    case DType::kQ4_G128: fallback = DType::kQ4_0; break;
    case DType::kQ4_G128Z: fallback = DType::kQ4_1; break;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K: fallback = DType::kQ4_0; break;
    case DType::kQ5_K: fallback = DType::kQ5_1; break;
    case DType::kQ6_K: fallback = DType::kQ8_0; break;
    default: break;
  }
  if (fallback && cols % traits(*fallback).block_size == 0) return fallback;
  return std::nullopt;
}

TypeChoice choose_type(const std::string& name, DType stored, DType wanted, int64_t cols) {
  const std::optional<DType> fit = fitting_type(wanted, cols);
  if (fit == wanted) return {wanted, ""};
  const DType type = fit.value_or(stored);
  return {type, name + ": " + std::to_string(cols) + " columns are not a multiple of the " +
                    std::string(dtype_name(wanted)) + " block size " +
                    std::to_string(traits(wanted).block_size) + "; " +
                    (fit ? "used " : "kept as ") + std::string(dtype_name(type))};
}

std::string precision_list() {
  std::string s;
  for (const Precision& p : precisions()) s += (s.empty() ? "" : ", ") + std::string(p.name);
  std::string aliases;
  for (const PrecisionAlias& a : kAliases)
    aliases += (aliases.empty() ? "" : ", ") + std::string(a.alias) + " = " + std::string(a.name);
  return s + " (any case; also " + aliases + ")";
}

}  // namespace joule
