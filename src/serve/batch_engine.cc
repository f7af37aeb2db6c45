#include "serve/batch_engine.h"

#include <algorithm>
#include <utility>

#include "backend/cpu/ops.h"
#include "core/check.h"

namespace joule::serve {

TokenLogprobs token_logprobs(const float* logits, int n_vocab, TokenId chosen, int top_n) {
  // The normalizer joule's scoring uses (eval, perplexity), so served log-probabilities and
  // `joule eval`'s agree.
  static const cpu::LogSumExpFn log_sum_exp = cpu::best_log_sum_exp();
  const double lse = log_sum_exp(logits, n_vocab).lse;
  auto logprob = [&](TokenId t) { return float(double(logits[t]) - lse); };
  TokenLogprobs out;
  out.token = chosen;
  out.logprob = logprob(chosen);
  std::vector<TokenId> ids(static_cast<size_t>(n_vocab));
  for (int i = 0; i < n_vocab; ++i) ids[size_t(i)] = i;
  const int k = std::min(top_n, n_vocab);
  // Ties broken by id, so the list does not depend on the sort's implementation.
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](TokenId a, TokenId b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  });
  for (int i = 0; i < k; ++i) out.top.emplace_back(ids[size_t(i)], logprob(ids[size_t(i)]));
  return out;
}

BatchEngine::BatchEngine(const Model& model, const Tokenizer& tok, sched::Scheduler& scheduler, ThreadPool& threads,
                         const cpu::KernelSet& ks)
    : model_(model),
      tok_(tok),
      scheduler_(scheduler),
      threads_(threads),
      ks_(ks),
      kv_(model.config(), scheduler.pool().n_blocks(), scheduler.pool().block_tokens()),
      scratch_(model.config(), scheduler.config().max_batch_tokens, model.config().ctx_train) {}

Status BatchEngine::submit(uint64_t id, std::vector<TokenId> prompt, const GenerationParams& params,
                           double arrival_s, sched::Priority priority) {
  JOULE_RETURN_IF_ERROR(validate(params.sampler));
  const int64_t most = int64_t(prompt.size()) + params.max_tokens;
  if (most > model_.config().ctx_train)
    return InvalidArgument(std::to_string(prompt.size()) + " prompt tokens and max_tokens " +
                           std::to_string(params.max_tokens) + " exceed the model's context of " +
                           std::to_string(model_.config().ctx_train));
  sched::Request r;
  r.id = id;
  r.tokens = std::move(prompt);
  r.max_tokens = params.max_tokens;
  r.arrival_s = arrival_s;
  r.priority = priority;
  r.skip_prefix_cache = params.prompt_logprobs;
  JOULE_RETURN_IF_ERROR(scheduler_.submit(std::move(r)));
  streams_.insert_or_assign(id, Stream{.sampler = Sampler(params.sampler),
                                       .utf8 = {},
                                       .stop = StopMatcher(params.stop),
                                       .logprobs = params.logprobs,
                                       .prompt_logprobs = params.prompt_logprobs});
  return Status::Ok();
}

Status BatchEngine::cancel(uint64_t id) { return scheduler_.cancel(id); }

Expected<std::vector<Emitted>> BatchEngine::step() {
  const sched::StepPlan plan = scheduler_.plan();
  std::vector<BatchItem> items;
  items.reserve(plan.items.size());
  // Logit rows, item after item: one for an item that samples, one per token for a prompt chunk
  // whose request wants prompt log-probabilities.
  std::vector<int> first_row;
  int rows = 0;
  shares_.clear();
  prompt_lps_.clear();
  for (const sched::StepItem& it : plan.items) {
    const int n = it.end - it.begin;
    shares_.push_back({.request_id = it.request_id, .prefill_tokens = it.decode ? 0 : n, .decode_tokens = it.decode ? n : 0});
    const sched::Request* r = scheduler_.find(it.request_id);
    JOULE_CHECK(r != nullptr);
    // Attention's order follows the sequence, never the batch: a generated token (or a one-token
    // prompt) is summed as a lone query, as `joule run` sums it.
    const bool all = !it.decode && streams_.at(it.request_id).prompt_logprobs;
    items.push_back({.tokens = it.tokens,
                     .pos0 = it.begin,
                     .blocks = it.blocks,
                     .logits = all ? Logits::kAll : it.logits ? Logits::kLast : Logits::kNone,
                     .single_token = it.decode || r->prompt_tokens == 1});
    first_row.push_back(rows);
    rows += all ? n : it.logits ? 1 : 0;
  }
  const int nv = model_.config().n_vocab;
  logits_.resize(size_t(rows) * nv);
  sched::StepResult result;
  if (!items.empty()) {
    if (Status s = forward_batch(model_, kv_, items, logits_.data(), scratch_, threads_, ks_); !s.ok()) {
      // The step's requests fail (and free their blocks); plan and complete stay paired.
      for (const sched::StepItem& it : plan.items) (void)scheduler_.cancel(it.request_id, sched::FinishReason::kError);
      scheduler_.complete(result);
      return s;
    }
  }
  std::vector<Emitted> emitted;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    const sched::StepItem& it = plan.items[i];
    Stream& st = streams_.at(it.request_id);
    if (items[i].logits == Logits::kAll) collect_prompt_logprobs(it, st, logits_.data() + size_t(first_row[i]) * nv);
    if (!it.logits) continue;
    Emitted e;
    e.request_id = it.request_id;
    const int row = first_row[i] + (items[i].logits == Logits::kAll ? it.end - it.begin - 1 : 0);
    const float* logits = logits_.data() + size_t(row) * nv;
    e.token = st.sampler.sample(logits, nv);
    if (st.logprobs >= 0) e.logprobs = token_logprobs(logits, nv, e.token, st.logprobs);
    if (tok_.is_eog(e.token)) {
      e.finish = sched::FinishReason::kStop;
      e.text = st.finish();
    } else {
      const StopMatcher::Out out = st.stop.push(st.utf8.push(tok_.token_to_piece(e.token)));
      e.text = out.text;
      if (out.stopped) e.finish = sched::FinishReason::kStop;
    }
    result.sampled.push_back({e.request_id, e.token, e.finish});
    emitted.push_back(std::move(e));
  }
  scheduler_.complete(result);
  // The scheduler ends a request at max_tokens: its held-back text goes out with the last token.
  for (Emitted& e : emitted)
    if (e.finish == sched::FinishReason::kNone && scheduler_.find(e.request_id) == nullptr) {
      e.text += streams_.at(e.request_id).finish();
      e.finish = sched::FinishReason::kLength;
    }
  return emitted;
}

void BatchEngine::collect_prompt_logprobs(const sched::StepItem& it, Stream& st, const float* rows) {
  // Row j holds the logits after position begin + j: they predict the token at begin + j + 1.
  const sched::Request* r = scheduler_.find(it.request_id);
  const int nv = model_.config().n_vocab;
  PromptLogprobs out{.request_id = it.request_id, .first_position = st.prompt_lp_next, .logprobs = {}};
  for (int pos = std::max(st.prompt_lp_next, it.begin + 1); pos <= it.end && pos < r->prompt_tokens; ++pos) {
    const float* row = rows + size_t(pos - 1 - it.begin) * nv;
    out.logprobs.push_back(token_logprobs(row, nv, r->tokens[size_t(pos)], std::max(st.logprobs, 0)));
    st.prompt_lp_next = pos + 1;
  }
  if (!out.logprobs.empty()) prompt_lps_.push_back(std::move(out));
}

std::vector<sched::Request> BatchEngine::take_finished() {
  std::vector<sched::Request> done = scheduler_.take_finished();
  for (const sched::Request& r : done) streams_.erase(r.id);
  return done;
}

}  // namespace joule::serve
