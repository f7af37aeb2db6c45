// Scoring a multiple-choice item from its continuations' log-likelihoods, as
// lm-evaluation-harness does (and llama.cpp's HellaSwag variant).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/strings.h"  // utf8_length: a choice's length as Python's len(), for acc_norm

namespace joule::eval {

struct ChoiceLoglik {
  double logprob = 0;  // sum over the continuation's tokens
  int n_tokens = 0;
};

// The choice one criterion picks, and by how much it beat the runner-up under that criterion
// (absent with one choice): how close an item was to flipping.
struct McPick {
  int choice = -1;
  std::optional<double> margin;
};

struct McScores {
  double acc = 0;           // argmax of the log-likelihood is the gold choice (1 or 0)
  double acc_norm = 0;      // argmax of log-likelihood / the choice's length in characters
  double acc_per_token = 0; // argmax of log-likelihood / tokens (llama.cpp's HellaSwag score)
  McPick pick, pick_norm, pick_per_token;  // what each criterion chose
};

// choices: the choice texts as the task defines them (without the " " delimiter), whose
// lengths in Unicode characters normalize acc_norm. Ties go to the first choice (numpy argmax).
McScores score_mc(const std::vector<ChoiceLoglik>& ll, const std::vector<std::string>& choices, int gold);

// TruthfulQA MC2: the probability mass of the true answers among all, with the harness's rule
// that the answers before the first false one are the true ones.
double score_mc2(const std::vector<ChoiceLoglik>& ll, const std::vector<int>& is_true);

}  // namespace joule::eval
