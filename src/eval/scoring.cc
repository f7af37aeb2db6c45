#include "eval/scoring.h"

#include <algorithm>
#include <cmath>

namespace joule::eval {
namespace {

// The argmax (ties go to the first, as numpy's) and its lead over the best of the others.
template <class Value>
McPick argmax(size_t n, Value value) {
  McPick p;
  p.choice = 0;
  for (size_t i = 1; i < n; ++i)
    if (value(i) > value(static_cast<size_t>(p.choice))) p.choice = static_cast<int>(i);
  for (size_t i = 0; i < n; ++i)
    if (static_cast<int>(i) != p.choice) {
      const double lead = value(static_cast<size_t>(p.choice)) - value(i);
      p.margin = p.margin ? std::min(*p.margin, lead) : lead;
    }
  return p;
}

}  // namespace

McScores score_mc(const std::vector<ChoiceLoglik>& ll, const std::vector<std::string>& choices, int gold) {
  McScores s;
  if (ll.empty()) return s;
  s.pick = argmax(ll.size(), [&](size_t i) { return ll[i].logprob; });
  s.pick_norm = argmax(ll.size(), [&](size_t i) {
    const size_t len = utf8_length(choices[i]);
    return ll[i].logprob / static_cast<double>(len > 0 ? len : 1);
  });
  s.pick_per_token = argmax(ll.size(), [&](size_t i) {
    return ll[i].logprob / static_cast<double>(ll[i].n_tokens > 0 ? ll[i].n_tokens : 1);
  });
  s.acc = s.pick.choice == gold;
  s.acc_norm = s.pick_norm.choice == gold;
  s.acc_per_token = s.pick_per_token.choice == gold;
  return s;
}

double score_mc2(const std::vector<ChoiceLoglik>& ll, const std::vector<int>& is_true) {
  size_t split = 0;
  while (split < is_true.size() && is_true[split] == 1) ++split;
  double p_true = 0, p_all = 0;
  for (size_t i = 0; i < ll.size(); ++i) {
    const double p = std::exp(ll[i].logprob);
    p_all += p;
    if (i < split) p_true += p;
  }
  return p_all > 0 ? p_true / p_all : 0;
}

}  // namespace joule::eval
