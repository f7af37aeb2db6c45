// Per-tensor precision policies: which weight matrices get which precision.
//
// File format (UTF-8 text, one rule per line):
//
//   # comments and blank lines are ignored
//   blk.*.ffn_down.weight = q8_0     # PATTERN = PRECISION
//   output.weight = keep             # keep: leave the tensor in the type it is stored in
//   * = q4_0                         # a catch-all, usually last
//
// PATTERN is a GGUF tensor name in which '*' matches any run of characters (dots included).
// The first rule whose pattern matches a weight matrix decides its precision; matrices no rule
// matches keep their stored type. Vectors (norms, biases) are never changed. A rule that
// matches no weight matrix of the model is an error (it is almost always a typo).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "quant/types.h"

namespace joule {

struct PolicyRule {
  std::string pattern;
  std::optional<DType> type;  // nullopt = keep the stored type
  int line = 0;               // 1-based line in the source text (0 for built rules)
};

class Policy {
 public:
  // Every matrix in type t (what `--precision NAME` means); for 2:4 sparsity the embedding
  // table stays dense (f16).
  static Policy uniform(DType t);
  static Expected<Policy> parse(std::string_view text, const std::string& source_name);
  static Expected<Policy> load(const std::string& path);

  void add(std::string pattern, std::optional<DType> type) {
    rules_.push_back({std::move(pattern), type, 0});
  }
  const std::vector<PolicyRule>& rules() const { return rules_; }

  // The rule deciding a matrix name, or nullptr when none matches.
  const PolicyRule* match(std::string_view tensor_name) const;
  // The type a matrix stored as `stored` gets.
  DType type_for(std::string_view tensor_name, DType stored) const;
  // Error naming the first rule that matches none of `matrix_names`.
  Status check_every_rule_matches(const std::vector<std::string>& matrix_names) const;
  // The policy as file text (parse(to_text()) gives the same rules).
  std::string to_text() const;

  std::string source;  // the file it came from, or a description ("--precision q8_0")

 private:
  std::vector<PolicyRule> rules_;
};

// Whether `name` matches `pattern` ('*' = any run of characters, everything else literal).
bool glob_match(std::string_view pattern, std::string_view name);

}  // namespace joule
