// Precisions: the names users choose (`--precision`, policy files, studies) and the weight type
// each one stores and multiplies in. One table (precision.cc) declares them all.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quant/types.h"

namespace joule {

struct Precision {
  std::string_view name;         // "f32", "int8-dynamic", ...
  DType type;                    // how weight matrices are stored and multiplied
  std::string_view description;  // one line for --help and docs
  bool llama_cpp_compatible;     // a GGUF written with it loads in llama.cpp
};

const std::vector<Precision>& precisions();
// A precision by name, GGUF type name ("q4_k", "i8_dyn") or alias (llama.cpp's presets such as
// "Q4_K_M"), in any case: nullopt if none. `note`, when given, is set if the alias is only close.
std::optional<Precision> find_precision(std::string_view name, std::string* note = nullptr);
// The user-facing name of a weight type ("i8_dyn" -> "int8-dynamic"; ggml types keep theirs).
std::string_view precision_name(DType t);
// The type a row of `cols` values gets when `wanted` is asked for: wanted if its blocks fit the
// row, else the nearest type of its family that fits (int4 g128 -> q4_0 / q4_1 with groups of
// 32, the 256-value k-quants -> q4_0 / q8_0, as llama.cpp falls back), else nullopt.
std::optional<DType> fitting_type(DType wanted, int64_t cols);

// What matrix `name` (stored as `stored`, rows of `cols` values) becomes when `wanted` is asked
// for: the fitting type, or `stored` when none fits; `note` says why when it is not `wanted`.
struct TypeChoice {
  DType type;
  std::string note;  // empty when type == wanted
};
TypeChoice choose_type(const std::string& name, DType stored, DType wanted, int64_t cols);

// "f32, f16, ..." for help texts and errors.
std::string precision_list();

}  // namespace joule
