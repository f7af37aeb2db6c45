#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "backend/cpu/ops.h"
#include "core/check.h"
#include "quant/fp16.h"
#include "quant/reference.h"

namespace joule {

ForwardState::ForwardState(const Model& model, int n_ctx, int max_batch)
    : n_ctx_(n_ctx), max_batch_(max_batch), kv_dim_(model.config().kv_dim()) {
  const ModelConfig& c = model.config();
  JOULE_CHECK(n_ctx >= 1 && max_batch >= 1);
  const size_t kv = size_t(c.n_layers) * n_ctx * kv_dim_;
  k_.resize(kv);
  v_.resize(kv);
  const size_t b = max_batch;
  x_.resize(b * c.d_model);
  xn_.resize(b * c.d_model);
  q_.resize(b * c.q_dim());
  k_new_.resize(b * c.kv_dim());
  v_new_.resize(b * c.kv_dim());
  attn_.resize(b * c.q_dim());
  gate_.resize(b * c.d_ff);
  up_.resize(b * c.d_ff);
  rope_cos_.resize(b * c.rope_dim / 2);
  rope_sin_.resize(b * c.rope_dim / 2);
}

void ForwardState::truncate(int n) {
  JOULE_CHECK(n >= 0 && n <= n_past_);
  n_past_ = n;
}

namespace {

// Causal grouped-query attention for a batch: token t (at absolute position pos0 + t) attends to
// cache positions [0, pos0 + t]. Work is dealt over (token, head) pairs round-robin: later
// tokens attend to more keys, so contiguous ranges would leave the first thread idle.
void attention(const ModelConfig& c, const float* q, const f16_bits* k_cache,
               const f16_bits* v_cache, int pos0, int nt, bool single_token, float* out,
               std::vector<float>& scores, int n_ctx, ThreadPool& pool) {
  const int hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const cpu::AttendFn attend = cpu::best_attend(hd);
  if (scores.size() < size_t(pool.size()) * n_ctx) scores.resize(size_t(pool.size()) * n_ctx);
  pool.run([&](int thread, int n_threads) {
    for (int64_t task = thread; task < int64_t(nt) * c.n_heads; task += n_threads) {
      const int t = static_cast<int>(task / c.n_heads), h = static_cast<int>(task % c.n_heads);
      const size_t kv_off = size_t(h / group) * hd;  // query head h reads kv head h / group
      attend({.q = q + size_t(t) * c.q_dim() + size_t(h) * hd,
              .k = k_cache + kv_off,
              .v = v_cache + kv_off,
              .kv_stride = size_t(c.kv_dim()),
              .n_keys = pos0 + t + 1,
              .head_dim = hd,
              .scale = 1.0f / std::sqrt(static_cast<float>(hd)),
              .scores = scores.data() + size_t(thread) * n_ctx,
              .out = out + size_t(t) * c.q_dim() + size_t(h) * hd,
              .single_token = single_token});
    }
  });
}

}  // namespace

Status forward(const Model& model, ForwardState& st, std::span<const TokenId> tokens,
               bool all_logits, float* logits, ThreadPool& pool, const cpu::KernelSet& ks) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  if (tokens.empty()) return InvalidArgument("no tokens to evaluate");
  if (st.n_past_ + static_cast<int64_t>(tokens.size()) > st.n_ctx_)
    return InvalidArgument("context full: " + std::to_string(st.n_past_) + " + " +
                           std::to_string(tokens.size()) + " tokens exceed the context of " +
                           std::to_string(st.n_ctx_));
  for (TokenId id : tokens)
    if (id < 0 || id >= c.n_vocab)
      return InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary (" +
                             std::to_string(c.n_vocab) + ")");

  const int d = c.d_model, qd = c.q_dim(), kvd = c.kv_dim(), f = c.d_ff, half = c.rope_dim / 2;
  const cpu::SiluMulFn silu_mul = cpu::best_silu_mul();
  const cpu::RopeParams rope{c.head_dim, c.rope_dim, c.rope_theta, c.rope_freq_scale,
                             w.rope_freq_factors.empty() ? nullptr : w.rope_freq_factors.data(),
                             c.rope_mode == RopeMode::kNorm ? cpu::RopePairs::kAdjacent
                                                            : cpu::RopePairs::kHalves};

  // Long prompts run in batches of at most max_batch_ tokens (bounded scratch memory).
  for (size_t start = 0; start < tokens.size(); start += st.max_batch_) {
    const int nt = static_cast<int>(std::min<size_t>(st.max_batch_, tokens.size() - start));
    const int pos0 = st.n_past_;
    float* x = st.x_.data();    // [nt, d] residual stream
    float* xn = st.xn_.data();  // [nt, d] normalised input of a sub-layer

    for (int t = 0; t < nt; ++t) {
      const TokenId id = tokens[start + t];
      dequantize_row_ref(w.token_embd.type, w.token_embd.row(id), x + size_t(t) * d, d);
      cpu::rope_angles(pos0 + t, rope, &st.rope_cos_[size_t(t) * half], &st.rope_sin_[size_t(t) * half]);
    }

    for (int li = 0; li < c.n_layers; ++li) {
      const LayerWeights& l = w.layers[li];
      // Attention block: x += Wo · attn(rope(Wq·xn), rope(Wk·xn), Wv·xn), xn = rmsnorm(x).
      for (int t = 0; t < nt; ++t) cpu::rmsnorm(x + size_t(t) * d, l.attn_norm.data(), d, c.rms_eps, xn + size_t(t) * d);
      float* q = st.q_.data();
      float* k = st.k_new_.data();
      float* v = st.v_new_.data();
      cpu::matmul(l.wq, xn, nt, q, qd, ks, pool, st.mm_);
      cpu::matmul(l.wk, xn, nt, k, kvd, ks, pool, st.mm_);
      cpu::matmul(l.wv, xn, nt, v, kvd, ks, pool, st.mm_);
      for (int t = 0; t < nt; ++t) {
        if (c.qkv_bias) {
          cpu::add_inplace(q + size_t(t) * qd, l.bq.data(), qd);
          cpu::add_inplace(k + size_t(t) * kvd, l.bk.data(), kvd);
          cpu::add_inplace(v + size_t(t) * kvd, l.bv.data(), kvd);
        }
        const float* cs = &st.rope_cos_[size_t(t) * half];
        const float* sn = &st.rope_sin_[size_t(t) * half];
        cpu::rope_apply(q + size_t(t) * qd, c.n_heads, cs, sn, rope);
        cpu::rope_apply(k + size_t(t) * kvd, c.n_kv_heads, cs, sn, rope);
      }
      // Append to the f16 cache (positions pos0 .. pos0 + nt - 1 are contiguous).
      f16_bits* kc = st.k_at(li, pos0);
      f16_bits* vc = st.v_at(li, pos0);
      for (size_t i = 0; i < size_t(nt) * kvd; ++i) {
        kc[i] = f32_to_f16(k[i]);
        vc[i] = f32_to_f16(v[i]);
      }
      attention(c, q, st.k_at(li, 0), st.v_at(li, 0), pos0, nt, tokens.size() == 1, st.attn_.data(),
                st.scores_, st.n_ctx_, pool);
      cpu::matmul(l.wo, st.attn_.data(), nt, xn, d, ks, pool, st.mm_);
      for (int t = 0; t < nt; ++t) cpu::add_inplace(x + size_t(t) * d, xn + size_t(t) * d, d);

      // Feed-forward block (SwiGLU): x += Wdown · (silu(Wgate·xn) * Wup·xn).
      for (int t = 0; t < nt; ++t) cpu::rmsnorm(x + size_t(t) * d, l.ffn_norm.data(), d, c.rms_eps, xn + size_t(t) * d);
      cpu::matmul(l.w_gate, xn, nt, st.gate_.data(), f, ks, pool, st.mm_);
      cpu::matmul(l.w_up, xn, nt, st.up_.data(), f, ks, pool, st.mm_);
      pool.parallel_for(nt, 1, [&](int64_t t0, int64_t t1) {
        silu_mul(st.gate_.data() + t0 * f, st.up_.data() + t0 * f, (t1 - t0) * f);
      });
      cpu::matmul(l.w_down, st.gate_.data(), nt, xn, d, ks, pool, st.mm_);
      for (int t = 0; t < nt; ++t) cpu::add_inplace(x + size_t(t) * d, xn + size_t(t) * d, d);
    }
    st.n_past_ += nt;

    // Logits: for every token of the batch, or only for the last token of the whole call.
    const bool last_batch = start + nt == tokens.size();
    if (!all_logits && !last_batch) continue;
    const int first = all_logits ? 0 : nt - 1;
    const int n_out = nt - first;
    for (int t = first; t < nt; ++t)
      cpu::rmsnorm(x + size_t(t) * d, w.output_norm.data(), d, c.rms_eps, xn + size_t(t - first) * d);
    float* out = all_logits ? logits + start * size_t(c.n_vocab) : logits;
    cpu::matmul(w.output, xn, n_out, out, c.n_vocab, ks, pool, st.mm_);
  }
  return Status::Ok();
}

}  // namespace joule
