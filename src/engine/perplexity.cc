#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace joule {
namespace {

// ln softmax(logits) in double: the NLL and KL sums run over hundreds of thousands of tokens.
void log_softmax(const float* logits, int n, std::vector<double>& out) {
  out.resize(static_cast<size_t>(n));
  const float mx = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - mx);
  const double log_sum = std::log(sum);
  for (int i = 0; i < n; ++i) out[static_cast<size_t>(i)] = double(logits[i]) - mx - log_sum;
}

size_t argmax(const std::vector<double>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

double mean_stderr(double sum, double sq_sum, int64_t n) {
  if (n < 2) return 0;
  const double mean = sum / n;
  return std::sqrt(std::max(0.0, sq_sum / n - mean * mean) / (n - 1));
}

}  // namespace

double PerplexityStats::ppl() const { return scored ? std::exp(nll_sum / scored) : 0; }
double PerplexityStats::ppl_stderr() const { return ppl() * mean_stderr(nll_sum, nll_sq_sum, scored); }
double PerplexityStats::ref_ppl() const { return scored ? std::exp(ref_nll_sum / scored) : 0; }
double PerplexityStats::kl_mean() const { return scored ? kl_sum / scored : 0; }
double PerplexityStats::kl_stderr() const { return mean_stderr(kl_sum, kl_sq_sum, scored); }
double PerplexityStats::top1_agreement() const { return scored ? double(top1_same) / scored : 0; }

Expected<PerplexityStats> perplexity(const Model& model, const Model* ref,
                                     std::span<const TokenId> tokens, const PerplexityParams& p,
                                     ThreadPool& pool, const cpu::KernelSet& ks,
                                     const ChunkProgress& progress) {
  const int nv = model.config().n_vocab;
  if (p.n_ctx < 16 || p.n_ctx > model.config().ctx_train)
    return InvalidArgument("--ctx " + std::to_string(p.n_ctx) + " must be between 16 and the model's context " +
                           std::to_string(model.config().ctx_train));
  if (ref != nullptr && ref->config().n_vocab != nv)
    return InvalidArgument("the reference model has " + std::to_string(ref->config().n_vocab) +
                           " tokens in its vocabulary, the model " + std::to_string(nv));
  int n_chunks = static_cast<int>(tokens.size() / static_cast<size_t>(p.n_ctx));
  if (n_chunks == 0) {
    // The second half of a chunk is scored, so a text of n tokens fits one chunk of --ctx <= n.
    const std::string fix = tokens.size() >= 16 ? "; --ctx " + std::to_string(tokens.size() & ~size_t{1}) +
                                                      " would fit it in one chunk (a longer text scores more tokens)"
                                                : "; perplexity needs a text of at least 16 tokens";
    return InvalidArgument("the text has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of --ctx " +
                           std::to_string(p.n_ctx) + fix);
  }
  if (p.max_chunks > 0) n_chunks = std::min(n_chunks, p.max_chunks);

  const size_t chunk_logits = static_cast<size_t>(p.n_ctx) * nv;
  std::vector<float> logits(chunk_logits), ref_logits(ref ? chunk_logits : 0);
  std::vector<double> lp, ref_lp;
  std::vector<TokenId> chunk(static_cast<size_t>(p.n_ctx));
  PerplexityStats st;
  const int first = p.n_ctx / 2;
  // One state per model, emptied for each chunk (every chunk starts from an empty cache).
  ForwardState state(model, p.n_ctx, p.n_ctx);
  std::optional<ForwardState> ref_state;
  if (ref != nullptr) ref_state.emplace(*ref, p.n_ctx, p.n_ctx);
  for (int c = 0; c < n_chunks; ++c) {
    std::copy_n(tokens.begin() + static_cast<ptrdiff_t>(c) * p.n_ctx, p.n_ctx, chunk.begin());
    if (p.bos >= 0) chunk[0] = p.bos;
    state.truncate(0);
    JOULE_RETURN_IF_ERROR(forward(model, state, chunk, true, logits.data(), pool, ks));
    if (ref_state) {
      ref_state->truncate(0);
      JOULE_RETURN_IF_ERROR(forward(*ref, *ref_state, chunk, true, ref_logits.data(), pool, ks));
    }
    // Logits at position i predict token i + 1.
    for (int i = first; i + 1 < p.n_ctx; ++i) {
      log_softmax(&logits[static_cast<size_t>(i) * nv], nv, lp);
      const double nll = -lp[static_cast<size_t>(chunk[i + 1])];
      st.nll_sum += nll;
      st.nll_sq_sum += nll * nll;
      ++st.scored;
      if (ref == nullptr) continue;
      log_softmax(&ref_logits[static_cast<size_t>(i) * nv], nv, ref_lp);
      st.ref_nll_sum -= ref_lp[static_cast<size_t>(chunk[i + 1])];
      double kl = 0;
      for (size_t v = 0; v < ref_lp.size(); ++v) kl += std::exp(ref_lp[v]) * (ref_lp[v] - lp[v]);
      st.kl_sum += kl;
      st.kl_sq_sum += kl * kl;
      st.top1_same += argmax(lp) == argmax(ref_lp);
    }
    ++st.chunks;
    if (progress) progress(st, n_chunks);
  }
  return st;
}

}  // namespace joule
