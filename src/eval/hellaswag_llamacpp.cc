#include "eval/hellaswag_llamacpp.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace joule::eval {

std::vector<size_t> llamacpp_hellaswag_selection(size_t n_items, size_t n_tasks) {
  std::vector<size_t> left(n_items), out;
  for (size_t i = 0; i < n_items; ++i) left[i] = i;
  if (n_tasks >= n_items) return left;
  std::mt19937 rng(1);
  for (size_t i = 0; i < n_tasks; ++i) {
    std::uniform_int_distribution<size_t> dist(0, left.size() - 1);
    const size_t idx = dist(rng);
    out.push_back(left[idx]);
    left.erase(left.begin() + static_cast<long>(idx));
  }
  return out;
}

Expected<LlamaCppHellaSwag> llamacpp_hellaswag(const Model& model, const Tokenizer& tok,
                                               const std::vector<McItem>& items, ThreadPool& pool,
                                               const cpu::KernelSet& ks, const std::function<void(int, int)>& progress) {
  const int nv = model.config().n_vocab;
  LlamaCppHellaSwag r;
  std::vector<float> logits;
  for (size_t it = 0; it < items.size(); ++it) {
    const McItem& item = items[it];
    std::vector<std::vector<TokenId>> seq;
    for (const std::string& e : item.choices) seq.push_back(tok.encode(item.question + " " + e, true, false));
    size_t prefix = 0;  // tokens shared by every ending's sequence
    while (std::all_of(seq.begin(), seq.end(), [&](const auto& s) { return prefix < s.size() && s[prefix] == seq[0][prefix]; }))
      ++prefix;
    if (prefix == 0) return InvalidArgument("hellaswag item " + item.id + ": the endings share no tokens with the context");
    size_t longest = 0;
    for (const auto& s : seq) longest = std::max(longest, s.size());
    ForwardState state(model, static_cast<int>(longest), static_cast<int>(longest));
    std::vector<float> last(static_cast<size_t>(nv));
    JOULE_RETURN_IF_ERROR(forward(model, state, std::span(seq[0].data(), prefix), false, last.data(), pool, ks));
    r.tokens += static_cast<int64_t>(prefix);
    double best = -INFINITY;
    int best_idx = 0;
    std::vector<double> means;
    for (size_t e = 0; e < seq.size(); ++e) {
      const std::vector<TokenId>& s = seq[e];
      // ln p of token prefix (from the prefix's last logits), then of each later token.
      auto lp = [&](const float* l, TokenId t) { return token_log_prob(l, nv, t).logprob; };
      double sum = prefix < s.size() ? lp(last.data(), s[prefix]) : 0;
      int count = 1;
      if (s.size() > prefix + 1) {
        state.truncate(static_cast<int>(prefix));
        const std::span<const TokenId> rest(s.data() + prefix, s.size() - prefix - 1);
        logits.resize(rest.size() * static_cast<size_t>(nv));
        JOULE_RETURN_IF_ERROR(forward(model, state, rest, true, logits.data(), pool, ks));
        r.tokens += static_cast<int64_t>(rest.size());
        for (size_t j = 0; j < rest.size(); ++j, ++count) sum += lp(&logits[j * static_cast<size_t>(nv)], s[prefix + 1 + j]);
      }
      const double mean = sum / count;
      means.push_back(mean);
      if (e == 0 || mean > best) {  // the first maximum, as llama.cpp's strict '>'
        best = mean;
        best_idx = static_cast<int>(e);
      }
    }
    ++r.n;
    r.correct += best_idx == item.gold;
    r.chosen.push_back(best_idx);
    r.mean_logprob.push_back(std::move(means));
    if (progress) progress(static_cast<int>(it + 1), static_cast<int>(items.size()));
  }
  return r;
}

}  // namespace joule::eval
