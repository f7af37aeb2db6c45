#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace joule {

Status validate(const SamplerParams& p) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature))
    return InvalidArgument("--temp must be >= 0 (got " + std::to_string(p.temperature) + ")");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    return InvalidArgument("--top-p must be in (0, 1] (got " + std::to_string(p.top_p) + ")");
  if (!(p.min_p >= 0.0f && p.min_p < 1.0f))
    return InvalidArgument("--min-p must be in [0, 1) (got " + std::to_string(p.min_p) + ")");
  return Status::Ok();
}

int32_t argmax(const float* x, int n) {
  return static_cast<int32_t>(std::max_element(x, x + n) - x);
}

int32_t Sampler::sample(const float* logits, int n_vocab) {
  if (p_.temperature == 0.0f) return argmax(logits, n_vocab);

  cands_.resize(n_vocab);
  for (int i = 0; i < n_vocab; ++i) cands_[i] = {i, logits[i]};
  auto by_logit = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; };
  size_t n = cands_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < n) {
    std::partial_sort(cands_.begin(), cands_.begin() + p_.top_k, cands_.end(), by_logit);
    n = p_.top_k;
  } else {
    std::sort(cands_.begin(), cands_.end(), by_logit);
  }

  // Probabilities of the survivors at temperature 1 decide top-p and min-p, as in llama.cpp.
  auto softmax = [&](size_t count, float temp) {
    probs_.resize(count);
    double sum = 0.0;
    for (size_t i = 0; i < count; ++i) {
      probs_[i] = std::exp((cands_[i].logit - cands_[0].logit) / temp);
      sum += probs_[i];
    }
    for (size_t i = 0; i < count; ++i) probs_[i] = static_cast<float>(probs_[i] / sum);
  };
  softmax(n, 1.0f);
  if (p_.top_p < 1.0f) {
    double cum = 0.0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += probs_[i];
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (p_.min_p > 0.0f) {
    const float floor = probs_[0] * p_.min_p;
    size_t keep = 1;
    while (keep < n && probs_[keep] >= floor) ++keep;
    n = keep;
  }
  softmax(n, p_.temperature);
  std::discrete_distribution<size_t> dist(probs_.begin(), probs_.begin() + n);
  return cands_[dist(rng_)].id;
}

}  // namespace joule
