#include "quant/policy.h"

#include "core/file.h"
#include "core/strings.h"
#include "quant/precision.h"

namespace joule {

bool glob_match(std::string_view pattern, std::string_view name) {
  // Iterative wildcard match with one backtrack point: linear in practice, no recursion.
  size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Policy Policy::uniform(DType t) {
  Policy p;
  // 2:4 pruning is for the linear layers; the embedding table (a lookup) stays dense.
  if (t == DType::kF16_S24) p.add("token_embd.weight", DType::kF16);
  p.add("*", t);
  p.source = "precision " + std::string(precision_name(t));
  return p;
}

Expected<Policy> Policy::parse(std::string_view text, const std::string& source_name) {
  Policy policy;
  policy.source = source_name;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    const std::string where = source_name + ":" + std::to_string(line_no) + ": ";
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos || line.find('=', eq + 1) != std::string_view::npos)
      return InvalidArgument(where + "expected 'PATTERN = PRECISION', got '" + std::string(line) + "'");
    const std::string_view pattern = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (pattern.empty()) return InvalidArgument(where + "the pattern is empty");
    if (pattern.find_first_of(" \t") != std::string_view::npos)
      return InvalidArgument(where + "the pattern '" + std::string(pattern) + "' contains a space");
    PolicyRule rule{std::string(pattern), std::nullopt, line_no};
    if (value != "keep") {
      const std::optional<Precision> prec = find_precision(value);
      if (!prec)
        return InvalidArgument(where + "unknown precision '" + std::string(value) + "' (one of " +
                               precision_list() + ", or keep)");
      rule.type = prec->type;
    }
    policy.rules_.push_back(std::move(rule));
  }
  if (policy.rules_.empty()) return InvalidArgument(source_name + ": the policy has no rules");
  return policy;
}

Expected<Policy> Policy::load(const std::string& path) {
  JOULE_ASSIGN_OR_RETURN(std::string text, read_file(path, "policy file"));
  return parse(text, path);
}

const PolicyRule* Policy::match(std::string_view tensor_name) const {
  for (const PolicyRule& r : rules_)
    if (glob_match(r.pattern, tensor_name)) return &r;
  return nullptr;
}

DType Policy::type_for(std::string_view tensor_name, DType stored) const {
  const PolicyRule* r = match(tensor_name);
  return r && r->type ? *r->type : stored;
}

Status Policy::check_every_rule_matches(const std::vector<std::string>& matrix_names) const {
  for (const PolicyRule& r : rules_) {
    bool used = false;
    for (const std::string& n : matrix_names) used = used || glob_match(r.pattern, n);
    if (!used)
      return InvalidArgument(source + (r.line ? std::string(":") + std::to_string(r.line) : "") + ": rule '" +
                             r.pattern + "' matches no weight matrix of the model");
  }
  return Status::Ok();
}

std::string Policy::to_text() const {
  std::string s;
  for (const PolicyRule& r : rules_)
    s += r.pattern + " = " + std::string(r.type ? precision_name(*r.type) : "keep") + "\n";
  return s;
}

}  // namespace joule
