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
// A precision by name, or by a GGUF type name ("q4_k", "i8_dyn"): nullopt if neither.
std::optional<Precision> find_precision(std::string_view name);
// The user-facing name of a weight type ("i8_dyn" -> "int8-dynamic"; ggml types keep theirs).
std::string_view precision_name(DType t);
// "f32, f16, ..." for help texts and errors.
std::string precision_list();

}  // namespace joule
