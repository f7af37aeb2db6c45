// Token sampling: greedy at temperature 0, else top-k -> top-p -> min-p -> temperature -> draw,
// the order llama.cpp's default sampler chain applies them in.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/status.h"

namespace joule {

struct SamplerParams {
  float temperature = 0.8f;  // 0: greedy
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  uint64_t seed = 0xC0FFEE;
};

Status validate(const SamplerParams& p);  // kInvalidArgument naming the bad parameter

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}
  int32_t sample(const float* logits, int n_vocab);

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };
  SamplerParams p_;
  std::mt19937_64 rng_;
  std::vector<Candidate> cands_;
  std::vector<float> probs_;
};

int32_t argmax(const float* x, int n);

}  // namespace joule
