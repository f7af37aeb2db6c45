// A request as the scheduler sees it: what decides when and how much of it runs. Sampling
// parameters and stop strings stay with the engine, which samples and decides when a request ends.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sched/kv_pool.h"

namespace joule::sched {

enum class RequestState { kWaiting, kRunning, kFinished };

enum class FinishReason {
  kNone,       // still going
  kStop,       // end-of-generation token or a stop string (the engine's call)
  kLength,     // max_tokens generated
  kCancelled,  // the client went away
  kError,      // the engine failed on it
};
// "stop", "length", "cancelled", "error" (OpenAI's finish_reason for the first two); "" for kNone.
std::string_view finish_reason_name(FinishReason r);

// Priority classes, most urgent first (a lower value is served first, as vLLM's priority).
enum class Priority : int8_t { kUrgent = 0, kNormal = 1, kLow = 2 };
inline constexpr int kNumPriorities = 3;
std::string_view priority_name(Priority p);  // "urgent", "normal", "low"
std::optional<Priority> parse_priority(std::string_view name);
inline int index_of(Priority p) { return int(p); }
// Values per class written "urgent:0.1,normal:0.6,low:0.3" (a class may be left out: nullopt).
// kInvalidArgument naming `what` for an unknown class, a repeated one or a value that is not a
// number.
using PerClassValues = std::array<std::optional<double>, kNumPriorities>;
Expected<PerClassValues> parse_per_class(std::string_view text, std::string_view what);

struct Request {
  // Set by the submitter.
  uint64_t id = 0;
  std::vector<TokenId> tokens;  // the prompt; the scheduler appends each generated token
  int max_tokens = 0;           // generated tokens at most
  double arrival_s = 0;         // on the scheduler's clock
  Priority priority = Priority::kNormal;  // its class; FCFS ignores it
  // Computes the whole prompt even when its blocks are cached: the engine needs every prompt
  // position's logits (prompt log-probabilities).
  bool skip_prefix_cache = false;

  // Kept by the scheduler (submit() resets them).
  RequestState state = RequestState::kWaiting;
  FinishReason finish = FinishReason::kNone;
  int prompt_tokens = 0;  // tokens.size() at submit
  // The class it is served as: its own, or more urgent once the policy ages it (starvation guard).
  Priority served_as = Priority::kNormal;
  // Leading tokens whose K/V are in `blocks`. Once the prompt is done, the last generated token
  // is the one not yet computed: its K/V are written by the step that samples the next.
  int num_computed = 0;
  std::vector<BlockId> blocks;  // block table: position p lives in blocks[p / block_tokens]
  int prefix_hit_tokens = 0;    // prompt tokens found in the prefix cache at first admission
  int preemptions = 0;
  std::optional<double> scheduled_s;    // first admitted (queue time = scheduled_s - arrival_s)
  std::optional<double> first_token_s;  // first generated token recorded
  std::optional<double> finished_s;
  // Prefix-cache bookkeeping: blocks[0, hashed_blocks) have been published (or found cached);
  // last_block_hash names blocks[hashed_blocks - 1].
  int hashed_blocks = 0;
  BlockHash last_block_hash = kRootHash;

  int num_tokens() const { return int(tokens.size()); }
  int generated_tokens() const { return num_tokens() - prompt_tokens; }
};

}  // namespace joule::sched
