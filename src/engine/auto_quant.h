// Progressive quantization by measured sensitivity (the research's "layer importance analysis":
// quantize the least sensitive parts first, check accuracy, continue).
//
// Given one model loaded twice, at a high and a low precision, and calibration text:
//   1. perplexity of the high model (the reference) and of the all-low model;
//   2. sensitivity: the perplexity with only one group (a tensor, or a block's tensors) low;
//   3. groups sorted from least to most sensitive are made low in steps of about 1/8 of them,
//      the perplexity measured after each step; the step that breaks the budget is bisected.
// Every figure it reports is a measured perplexity of the mix it names.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/perplexity.h"
#include "quant/policy.h"

namespace joule {

struct AutoQuantParams {
  double budget_rel = 0.01;     // allowed perplexity increase over the high model (0.01 = 1 %)
  bool by_block = false;        // groups: each block's tensors together (else every tensor)
  PerplexityParams perplexity;  // calibration chunking
  std::function<void(const std::string&)> log;  // progress lines (may be empty)
};

struct GroupSensitivity {
  std::string group;  // a tensor name, or "blk.N.*"
  double ppl = 0;     // with only this group at the low precision
  double increase_rel = 0;
};

struct AutoQuantResult {
  double high_ppl = 0, all_low_ppl = 0, final_ppl = 0;
  std::vector<GroupSensitivity> ranking;  // least sensitive first
  size_t n_low = 0;                       // groups made low: ranking[0, n_low)
  int evaluations = 0;                    // perplexity measurements made
  Policy policy;                          // ranking[0, n_low) = low, everything else = high
};

// `high` and `low` must be the same file loaded at two precisions. kInvalidArgument when the
// budget is negative or no single group fits in it (the error names the cheapest group).
Expected<AutoQuantResult> auto_quantize(const Model& high, const Model& low, DType high_type,
                                        DType low_type, std::span<const TokenId> calib,
                                        const AutoQuantParams& p, ThreadPool& pool,
                                        const cpu::KernelSet& ks);

}  // namespace joule
