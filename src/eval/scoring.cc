#include "eval/scoring.h"

#include <cmath>

namespace joule::eval {
namespace {

template <class Value>
int argmax(size_t n, Value value) {
  int best = 0;
  for (size_t i = 1; i < n; ++i)
    if (value(i) > value(static_cast<size_t>(best))) best = static_cast<int>(i);
  return best;
}

}  // namespace

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;  // count every byte that starts a character
  return n;
}

McScores score_mc(const std::vector<ChoiceLoglik>& ll, const std::vector<std::string>& choices, int gold) {
  McScores s;
  if (ll.empty()) return s;
  s.acc = argmax(ll.size(), [&](size_t i) { return ll[i].logprob; }) == gold;
  s.acc_norm = argmax(ll.size(), [&](size_t i) {
                 const size_t len = utf8_length(choices[i]);
                 return ll[i].logprob / static_cast<double>(len > 0 ? len : 1);
               }) == gold;
  s.acc_per_token = argmax(ll.size(), [&](size_t i) {
                      return ll[i].logprob / static_cast<double>(ll[i].n_tokens > 0 ? ll[i].n_tokens : 1);
                    }) == gold;
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
