#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "backend/cpu/ops.h"
#include "core/check.h"
#include "quant/fp16.h"
#include "quant/reference.h"

namespace joule {

KvCache::KvCache(const ModelConfig& c, int n_blocks, int block_tokens)
    : n_blocks_(n_blocks), block_tokens_(block_tokens), n_layers_(c.n_layers), kv_dim_(c.kv_dim()) {
  JOULE_CHECK(n_blocks >= 1 && block_tokens >= 1);
  const size_t n = size_t(n_blocks) * n_layers_ * block_tokens * kv_dim_;
  k_.resize(n);
  v_.resize(n);
}

BatchScratch::BatchScratch(const ModelConfig& c, int max_tokens, int max_positions)
    : max_tokens_(max_tokens), max_positions_(max_positions) {
  JOULE_CHECK(max_tokens >= 1 && max_positions >= 1);
  const size_t b = max_tokens;
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

ForwardState::ForwardState(const Model& model, int n_ctx, int max_batch)
    : n_ctx_(n_ctx),
      max_batch_(max_batch),
      kv_(model.config(), 1, n_ctx),
      scratch_(model.config(), max_batch, n_ctx) {}

void ForwardState::truncate(int n) {
  JOULE_CHECK(n >= 0 && n <= n_past_);
  n_past_ = n;
}

namespace {

// Causal grouped-query attention for one sequence's nt queries: query t (at absolute position
// pos0 + t) attends to positions [0, pos0 + t], whose keys and values are kv_dim apart from
// k_seq / v_seq. Work is dealt over (token, head) pairs round-robin: later tokens attend to more
// keys, so contiguous ranges would leave the first thread idle.
void attention(const ModelConfig& c, const float* q, const f16_bits* k_seq, const f16_bits* v_seq, int pos0,
               int nt, bool single_token, float* out, std::vector<float>& scores, int max_positions,
               ThreadPool& pool) {
  const int hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const cpu::AttendFn attend = cpu::best_attend(hd);
  if (scores.size() < size_t(pool.size()) * max_positions) scores.resize(size_t(pool.size()) * max_positions);
  pool.run([&](int thread, int n_threads) {
    for (int64_t task = thread; task < int64_t(nt) * c.n_heads; task += n_threads) {
      const int t = static_cast<int>(task / c.n_heads), h = static_cast<int>(task % c.n_heads);
      const size_t kv_off = size_t(h / group) * hd;  // query head h reads kv head h / group
      attend({.q = q + size_t(t) * c.q_dim() + size_t(h) * hd,
              .k = k_seq + kv_off,
              .v = v_seq + kv_off,
              .kv_stride = size_t(c.kv_dim()),
              .n_keys = pos0 + t + 1,
              .head_dim = hd,
              .scale = 1.0f / std::sqrt(static_cast<float>(hd)),
              .scores = scores.data() + size_t(thread) * max_positions,
              .out = out + size_t(t) * c.q_dim() + size_t(h) * hd,
              .single_token = single_token});
    }
  });
}

Status check_items(const ModelConfig& c, const KvCache& kv, std::span<const BatchItem> items,
                   const BatchScratch& s) {
  size_t total = 0;
  for (const BatchItem& it : items) {
    if (it.tokens.empty()) return InvalidArgument("no tokens to evaluate");
    const int64_t end = int64_t(it.pos0) + int64_t(it.tokens.size());
    if (it.pos0 < 0 || end > s.max_positions() || end > int64_t(it.blocks.size()) * kv.block_tokens())
      return InvalidArgument("context full: " + std::to_string(it.pos0) + " + " + std::to_string(it.tokens.size()) +
                             " tokens exceed the context of " +
                             std::to_string(std::min<int64_t>(s.max_positions(),
                                                              int64_t(it.blocks.size()) * kv.block_tokens())));
    for (int32_t b : it.blocks)
      if (b < 0 || b >= kv.n_blocks()) return InvalidArgument("KV block " + std::to_string(b) + " is not in the cache");
    for (TokenId id : it.tokens)
      if (id < 0 || id >= c.n_vocab)
        return InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary (" +
                               std::to_string(c.n_vocab) + ")");
    total += it.tokens.size();
  }
  if (total > size_t(s.max_tokens()))
    return InvalidArgument(std::to_string(total) + " tokens exceed the step's scratch of " + std::to_string(s.max_tokens()));
  return Status::Ok();
}

}  // namespace

Status forward_batch(const Model& model, KvCache& kv, std::span<const BatchItem> items, float* logits,
                     BatchScratch& s, ThreadPool& pool, const cpu::KernelSet& ks) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  if (items.empty()) return InvalidArgument("no tokens to evaluate");
  JOULE_RETURN_IF_ERROR(check_items(c, kv, items, s));

  const int d = c.d_model, qd = c.q_dim(), kvd = c.kv_dim(), f = c.d_ff, half = c.rope_dim / 2;
  const int bt = kv.block_tokens();
  const cpu::SiluMulFn silu_mul = cpu::best_silu_mul();
  const cpu::RopeParams rope{c.head_dim, c.rope_dim, c.rope_theta, c.rope_freq_scale,
                             w.rope_freq_factors.empty() ? nullptr : w.rope_freq_factors.data(),
                             c.rope_mode == RopeMode::kNorm ? cpu::RopePairs::kAdjacent
                                                            : cpu::RopePairs::kHalves};
  // Columns of the step: item i's tokens are columns first[i] .. first[i] + size - 1.
  std::vector<int> first(items.size());
  int nt = 0;
  for (size_t i = 0; i < items.size(); ++i) first[i] = nt, nt += static_cast<int>(items[i].tokens.size());
  float* x = s.x_.data();    // [nt, d] residual stream
  float* xn = s.xn_.data();  // [nt, d] normalised input of a sub-layer

  for (size_t i = 0; i < items.size(); ++i)
    for (int j = 0; j < int(items[i].tokens.size()); ++j) {
      const int t = first[i] + j;
      dequantize_row_ref(w.token_embd.type, w.token_embd.row(items[i].tokens[j]), x + size_t(t) * d, d);
      cpu::rope_angles(items[i].pos0 + j, rope, &s.rope_cos_[size_t(t) * half], &s.rope_sin_[size_t(t) * half]);
    }

  for (int li = 0; li < c.n_layers; ++li) {
    const LayerWeights& l = w.layers[li];
    // Attention block: x += Wo · attn(rope(Wq·xn), rope(Wk·xn), Wv·xn), xn = rmsnorm(x).
    for (int t = 0; t < nt; ++t) cpu::rmsnorm(x + size_t(t) * d, l.attn_norm.data(), d, c.rms_eps, xn + size_t(t) * d);
    float* q = s.q_.data();
    float* k = s.k_new_.data();
    float* v = s.v_new_.data();
    cpu::matmul(l.wq, xn, nt, q, qd, ks, pool, s.mm_);
    cpu::matmul(l.wk, xn, nt, k, kvd, ks, pool, s.mm_);
    cpu::matmul(l.wv, xn, nt, v, kvd, ks, pool, s.mm_);
    for (int t = 0; t < nt; ++t) {
      if (c.qkv_bias) {
        cpu::add_inplace(q + size_t(t) * qd, l.bq.data(), qd);
        cpu::add_inplace(k + size_t(t) * kvd, l.bk.data(), kvd);
        cpu::add_inplace(v + size_t(t) * kvd, l.bv.data(), kvd);
      }
      const float* cs = &s.rope_cos_[size_t(t) * half];
      const float* sn = &s.rope_sin_[size_t(t) * half];
      cpu::rope_apply(q + size_t(t) * qd, c.n_heads, cs, sn, rope);
      cpu::rope_apply(k + size_t(t) * kvd, c.n_kv_heads, cs, sn, rope);
    }
    for (size_t i = 0; i < items.size(); ++i) {
      const BatchItem& it = items[i];
      const int n = static_cast<int>(it.tokens.size());
      // Append to the f16 cache: position p goes to block p / bt at offset p % bt.
      for (int j = 0; j < n; ++j) {
        const int p = it.pos0 + j;
        const size_t at = size_t(p % bt) * kvd, from = size_t(first[i] + j) * kvd;
        f16_bits* kc = kv.k(it.blocks[p / bt], li) + at;
        f16_bits* vc = kv.v(it.blocks[p / bt], li) + at;
        for (int e = 0; e < kvd; ++e) {
          kc[e] = f32_to_f16(k[from + e]);
          vc[e] = f32_to_f16(v[from + e]);
        }
      }
      // Attention reads the sequence's positions kv_dim apart: in place when they are in one
      // block, else gathered (the same values, so the same arithmetic).
      const int positions = it.pos0 + n;
      const f16_bits* k_seq = kv.k(it.blocks[0], li);
      const f16_bits* v_seq = kv.v(it.blocks[0], li);
      if (positions > bt) {
        s.k_seq_.resize(size_t(positions) * kvd);
        s.v_seq_.resize(size_t(positions) * kvd);
        for (int b = 0; b * bt < positions; ++b) {
          const size_t len = size_t(std::min(bt, positions - b * bt)) * kvd;
          std::copy_n(kv.k(it.blocks[b], li), len, s.k_seq_.data() + size_t(b) * bt * kvd);
          std::copy_n(kv.v(it.blocks[b], li), len, s.v_seq_.data() + size_t(b) * bt * kvd);
        }
        k_seq = s.k_seq_.data();
        v_seq = s.v_seq_.data();
      }
      attention(c, q + size_t(first[i]) * qd, k_seq, v_seq, it.pos0, n, it.single_token,
                s.attn_.data() + size_t(first[i]) * qd, s.scores_, s.max_positions(), pool);
    }
    cpu::matmul(l.wo, s.attn_.data(), nt, xn, d, ks, pool, s.mm_);
    for (int t = 0; t < nt; ++t) cpu::add_inplace(x + size_t(t) * d, xn + size_t(t) * d, d);

    // Feed-forward block (SwiGLU): x += Wdown · (silu(Wgate·xn) * Wup·xn).
    for (int t = 0; t < nt; ++t) cpu::rmsnorm(x + size_t(t) * d, l.ffn_norm.data(), d, c.rms_eps, xn + size_t(t) * d);
    cpu::matmul(l.w_gate, xn, nt, s.gate_.data(), f, ks, pool, s.mm_);
    cpu::matmul(l.w_up, xn, nt, s.up_.data(), f, ks, pool, s.mm_);
    pool.parallel_for(nt, 1, [&](int64_t t0, int64_t t1) {
      silu_mul(s.gate_.data() + t0 * f, s.up_.data() + t0 * f, (t1 - t0) * f);
    });
    cpu::matmul(l.w_down, s.gate_.data(), nt, xn, d, ks, pool, s.mm_);
    for (int t = 0; t < nt; ++t) cpu::add_inplace(x + size_t(t) * d, xn + size_t(t) * d, d);
  }

  // Logits of the tokens that ask for them, in item order, through one output matmul.
  int n_out = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const int n = static_cast<int>(items[i].tokens.size());
    const int from = items[i].logits == Logits::kAll ? 0 : items[i].logits == Logits::kLast ? n - 1 : n;
    for (int j = from; j < n; ++j, ++n_out)
      cpu::rmsnorm(x + size_t(first[i] + j) * d, w.output_norm.data(), d, c.rms_eps, xn + size_t(n_out) * d);
  }
  if (n_out > 0) cpu::matmul(w.output, xn, n_out, logits, c.n_vocab, ks, pool, s.mm_);
  return Status::Ok();
}

Status forward(const Model& model, ForwardState& st, std::span<const TokenId> tokens,
               bool all_logits, float* logits, ThreadPool& pool, const cpu::KernelSet& ks) {
  if (tokens.empty()) return InvalidArgument("no tokens to evaluate");
  if (st.n_past_ + static_cast<int64_t>(tokens.size()) > st.n_ctx_)
    return InvalidArgument("context full: " + std::to_string(st.n_past_) + " + " +
                           std::to_string(tokens.size()) + " tokens exceed the context of " +
                           std::to_string(st.n_ctx_));
  const int32_t block[1] = {0};
  // Long prompts run in steps of at most max_batch_ tokens (bounded scratch memory).
  for (size_t start = 0; start < tokens.size(); start += st.max_batch_) {
    const size_t n = std::min<size_t>(st.max_batch_, tokens.size() - start);
    const bool last_step = start + n == tokens.size();
    const BatchItem item{.tokens = tokens.subspan(start, n),
                         .pos0 = st.n_past_,
                         .blocks = block,
                         .logits = all_logits ? Logits::kAll : last_step ? Logits::kLast : Logits::kNone,
                         .single_token = tokens.size() == 1};
    float* out = all_logits ? logits + start * size_t(model.config().n_vocab) : logits;
    JOULE_RETURN_IF_ERROR(forward_batch(model, st.kv_, {&item, 1}, out, st.scratch_, pool, ks));
    st.n_past_ += static_cast<int>(n);
  }
  return Status::Ok();
}

}  // namespace joule
