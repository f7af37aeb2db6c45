// HellaSwag the way llama.cpp's `llama-perplexity --hellaswag` scores it, so the two engines can
// be compared on the same items: tasks drawn with std::mt19937(1) as it draws them (each from
// those left), every ending tokenized as context + " " + ending with the model's special tokens,
// the tokens common to all four endings skipped, and the ending with the highest mean
// log-probability per remaining token chosen.
#pragma once

#include <vector>

#include "engine/loglik.h"
#include "eval/datasets.h"

namespace joule::eval {

// The item indices llama.cpp evaluates for `n_tasks` of `n_items` (all, in order, when
// n_tasks >= n_items).
std::vector<size_t> llamacpp_hellaswag_selection(size_t n_items, size_t n_tasks);

struct LlamaCppHellaSwag {
  int n = 0;
  int correct = 0;
  std::vector<int> chosen;                       // per item, the ending picked
  std::vector<std::vector<double>> mean_logprob;  // per item, each ending's criterion
  double acc() const { return n ? double(correct) / n : 0; }
  int64_t tokens = 0;
};

// items: in the selected order. n_ctx must hold the longest context + ending.
Expected<LlamaCppHellaSwag> llamacpp_hellaswag(const Model& model, const Tokenizer& tok,
                                               const std::vector<McItem>& items, ThreadPool& pool,
                                               const cpu::KernelSet& ks, const std::function<void(int, int)>& progress = {});

}  // namespace joule::eval
