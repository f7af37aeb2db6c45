#include "engine/loglik.h"

#include <algorithm>

#include "backend/cpu/ops.h"

namespace joule {
TokenLogProb token_log_prob(const float* logits, int n_vocab, TokenId token) {
  static const cpu::LogSumExpFn log_sum_exp = cpu::best_log_sum_exp();
  const cpu::LogSumExp r = log_sum_exp(logits, n_vocab);
  return {double(logits[token]) - r.lse, r.argmax == token};
}

LoglikScorer::LoglikScorer(const Model& model, const Tokenizer& tok, int n_ctx, ThreadPool& pool,
                           const cpu::KernelSet& ks)
    : model_(model), tok_(tok), pool_(pool), ks_(ks), state_(model, n_ctx, n_ctx) {}

Expected<std::vector<ContinuationScore>> LoglikScorer::score(const std::string& context,
                                                             const std::vector<std::string>& continuations) {
  const int nv = model_.config().n_vocab;
  // The harness moves the context's trailing whitespace onto each continuation.
  const size_t kept = context.find_last_not_of(" \t\n\r") + 1;  // npos + 1 == 0
  const std::string ctx_text = context.substr(0, kept), moved = context.substr(kept);
  std::vector<TokenId> ctx = tok_.encode(ctx_text, /*add_special=*/false, /*parse_special=*/false);
  std::vector<std::vector<TokenId>> conts;
  size_t longest = 0;
  for (const std::string& c : continuations) {
    const std::vector<TokenId> whole = tok_.encode(ctx_text + moved + c, false, false);
    std::vector<TokenId> cont(whole.begin() + static_cast<long>(std::min(ctx.size(), whole.size())), whole.end());
    if (cont.empty()) return InvalidArgument("the continuation '" + c + "' encodes to no tokens");
    if (static_cast<int>(cont.size()) >= state_.n_ctx())
      return InvalidArgument("a continuation of " + std::to_string(cont.size()) + " tokens does not fit the window of " +
                             std::to_string(state_.n_ctx()));
    longest = std::max(longest, cont.size());
    conts.push_back(std::move(cont));
  }
  if (ctx.empty()) {
    if (tok_.bos() < 0) return InvalidArgument("an empty context needs a BOS token, and the model has none");
    ctx.push_back(tok_.bos());
  }
  // Left truncation: the context keeps its last tokens so that the longest continuation fits.
  const size_t room = static_cast<size_t>(state_.n_ctx()) - longest;
  if (ctx.size() > room) ctx.erase(ctx.begin(), ctx.end() - static_cast<long>(room));

  logits_.resize(static_cast<size_t>(nv) * (longest > 0 ? longest : 1));
  std::vector<float> ctx_last(static_cast<size_t>(nv));
  // Reuse the cached keys and values of the leading tokens this context shares with the last
  // one; at least its last token is evaluated again, for the logits that predict continuations.
  size_t common = 0;
  while (common < cached_.size() && common + 1 < ctx.size() && cached_[common] == ctx[common]) ++common;
  state_.truncate(static_cast<int>(common));
  cached_.clear();  // until the forward pass below succeeds
  const std::span<const TokenId> fresh(ctx.data() + common, ctx.size() - common);
  JOULE_RETURN_IF_ERROR(forward(model_, state_, fresh, false, ctx_last.data(), pool_, ks_));
  cached_ = ctx;
  stats_.context_tokens += static_cast<int64_t>(fresh.size());

  std::vector<ContinuationScore> out;
  for (const std::vector<TokenId>& cont : conts) {
    state_.truncate(static_cast<int>(ctx.size()));
    ContinuationScore s;
    s.n_tokens = static_cast<int>(cont.size());
    s.greedy = true;
    // The context's last logits predict the first token; the continuation's own logits the rest
    // (its last token is evaluated only when it predicts nothing, so it is skipped).
    auto add = [&](const float* logits, TokenId token) {
      const auto [lp, top] = token_log_prob(logits, nv, token);
      s.logprob += lp;
      s.greedy = s.greedy && top;
    };
    stats_.naive_tokens += static_cast<int64_t>(ctx.size() + cont.size() - 1);
    add(ctx_last.data(), cont[0]);
    if (cont.size() > 1) {
      const std::span<const TokenId> head(cont.data(), cont.size() - 1);
      JOULE_RETURN_IF_ERROR(forward(model_, state_, head, true, logits_.data(), pool_, ks_));
      stats_.continuation_tokens += static_cast<int64_t>(head.size());
      for (size_t i = 1; i < cont.size(); ++i) add(&logits_[(i - 1) * static_cast<size_t>(nv)], cont[i]);
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace joule
