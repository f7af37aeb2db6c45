#include "engine/auto_quant.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "quant/precision.h"

namespace joule {
namespace {

// The group a matrix belongs to.
std::string group_of(const std::string& tensor, bool by_block) {
  if (!by_block || tensor.rfind("blk.", 0) != 0) return tensor;
  return tensor.substr(0, tensor.find('.', 4)) + ".*";
}

std::string pct(double rel) {
  char b[32];
  std::snprintf(b, sizeof(b), "%+.3f %%", 100 * rel);
  return b;
}

}  // namespace

Expected<AutoQuantResult> auto_quantize(const Model& high, const Model& low, DType high_type,
                                        DType low_type, std::span<const TokenId> calib,
                                        const AutoQuantParams& p, ThreadPool& pool,
                                        const cpu::KernelSet& ks) {
  if (!(p.budget_rel >= 0)) return InvalidArgument("the perplexity budget must be >= 0");
  auto log = [&](const std::string& s) {
    if (p.log) p.log(s);
  };
  AutoQuantResult r;
  // Perplexity of high with the groups in `low_groups` taken from low.
  auto measure = [&](const std::set<std::string>& low_groups) -> Expected<double> {
    JOULE_ASSIGN_OR_RETURN(auto mixed, Model::mix(high, low, [&](const std::string& name) {
                             return low_groups.count(group_of(name, p.by_block)) > 0;
                           }));
    JOULE_ASSIGN_OR_RETURN(PerplexityStats st, perplexity(*mixed, nullptr, calib, p.perplexity, pool, ks));
    ++r.evaluations;
    return st.ppl();
  };

  std::vector<std::string> groups;
  for (const auto& [name, m] : high.weights().matrices()) {
    const std::string g = group_of(name, p.by_block);
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
  }
  const std::set<std::string> none, all(groups.begin(), groups.end());
  JOULE_ASSIGN_OR_RETURN(r.high_ppl, measure(none));
  JOULE_ASSIGN_OR_RETURN(r.all_low_ppl, measure(all));
  const double limit = r.high_ppl * (1 + p.budget_rel);
  log("high-precision perplexity " + std::to_string(r.high_ppl) + ", all low " +
      std::to_string(r.all_low_ppl) + " (" + pct(r.all_low_ppl / r.high_ppl - 1) + "); budget " +
      pct(p.budget_rel));

  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < groups.size(); ++i) {
    JOULE_ASSIGN_OR_RETURN(double ppl, measure({groups[i]}));
    r.ranking.push_back({groups[i], ppl, ppl / r.high_ppl - 1});
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if ((i + 1) % 10 == 0 || i + 1 == groups.size())
      log("sensitivity " + std::to_string(i + 1) + "/" + std::to_string(groups.size()) + ", ETA " +
          std::to_string(static_cast<int>(el / (i + 1) * (groups.size() - i - 1))) + " s");
  }
  std::stable_sort(r.ranking.begin(), r.ranking.end(),
                   [](const GroupSensitivity& a, const GroupSensitivity& b) { return a.ppl < b.ppl; });

  auto first_k = [&](size_t k) {
    std::set<std::string> s;
    for (size_t i = 0; i < k; ++i) s.insert(r.ranking[i].group);
    return s;
  };
  if (r.all_low_ppl <= limit) {
    r.n_low = groups.size();
    r.final_ppl = r.all_low_ppl;
  } else {
    if (r.ranking.front().ppl > limit)
      return InvalidArgument("the budget " + pct(p.budget_rel) + " is smaller than the cost of making any single " +
                             (p.by_block ? "block " : "tensor ") + std::string(precision_name(low_type)) +
                             " (cheapest: " + r.ranking.front().group + ", " +
                             pct(r.ranking.front().increase_rel) + ")");
    // Grow in steps while within budget; bisect the step that is not.
    const size_t step = std::max<size_t>(1, groups.size() / 8);
    size_t ok = 0;
    double ok_ppl = r.high_ppl;
    size_t bad = groups.size();  // all low is over budget
    while (ok + 1 < bad) {
      const size_t k = std::min(bad - 1, bad == groups.size() && ok + step < bad ? ok + step : (ok + bad) / 2);
      JOULE_ASSIGN_OR_RETURN(double ppl, measure(first_k(k)));
      log(std::to_string(k) + " of " + std::to_string(groups.size()) + " low: perplexity " +
          std::to_string(ppl) + " (" + pct(ppl / r.high_ppl - 1) + ")" + (ppl <= limit ? "" : " over budget"));
      if (ppl <= limit) {
        ok = k;
        ok_ppl = ppl;
      } else {
        bad = k;
      }
    }
    r.n_low = ok;
    r.final_ppl = ok_ppl;
  }
  for (size_t i = 0; i < r.n_low; ++i) r.policy.add(r.ranking[i].group, low_type);
  r.policy.add("*", high_type);
  r.policy.source = "auto (budget " + pct(p.budget_rel) + ")";
  return r;
}

}  // namespace joule
