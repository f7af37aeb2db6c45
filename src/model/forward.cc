#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "backend/cpu/ops.h"
#include "core/check.h"
#include "core/memory.h"
#include "quant/fp16.h"
#include "quant/reference.h"

namespace joule {

KvCache::KvCache(const ModelConfig& c, int n_blocks, int block_tokens)
    : n_blocks_(n_blocks),
      block_tokens_(block_tokens),
      n_layers_(c.n_layers),
      kv_dim_(c.kv_dim()),
      elements_(size_t(n_blocks) * n_layers_ * block_tokens * kv_dim_) {
  JOULE_CHECK(n_blocks >= 1 && block_tokens >= 1);
  memory_ = alloc_huge_pages(2 * elements_ * sizeof(f16_bits));
  std::memset(memory_.get(), 0, 2 * elements_ * sizeof(f16_bits));
  k_ = reinterpret_cast<f16_bits*>(memory_.get());
  v_ = k_ + elements_;
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
  if (c.fused_qkv) qkv_.resize(b * (c.q_dim() + 2 * c.kv_dim()));
  for (int local = 0; local < (c.sliding_window > 0 ? 2 : 1); ++local) {
    rope_cos_[local].resize(b * c.rope_dim / 2);
    rope_sin_[local].resize(b * c.rope_dim / 2);
  }
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

// Causal grouped-query attention of every item's queries in one parallel section: query t of item
// i (at absolute position p = pos0 + t) attends to its sequence's positions [0, p] (a local layer's:
// the last `window` of them, as llama.cpp's standard sliding window masks them), read in
// place through rows (one offset per position, from rows0[i]). Work is dealt over (item, token,
// heads) tasks round-robin: later tokens attend to more keys, so contiguous ranges would leave
// the first thread idle. A task takes all the query heads of one kv head (which share its key and
// value loads) where that still leaves a few tasks per thread, else one head.
void attention(const ModelConfig& c, std::span<const BatchItem> items, const int* first, const size_t* rows,
               const size_t* rows0, const float* q, const f16_bits* k_layer, const f16_bits* v_layer, int window,
               float* out, std::vector<float>& scores, int max_positions, ThreadPool& pool) {
  const int hd = c.head_dim, group = c.n_heads / c.n_kv_heads, nh = c.n_heads;
  const cpu::AttendFn attend = cpu::best_attend(hd);
  std::vector<float> slopes;
  if (c.alibi_max_bias > 0)
    for (int h = 0; h < nh; ++h) slopes.push_back(c.alibi_slope(h));
  const int cols = first[items.size()];  // first[] ends with the step's column count
  const int per_task = int64_t(cols) * c.n_kv_heads >= 4 * int64_t(pool.size()) ? group : 1;
  if (scores.size() < size_t(pool.size()) * per_task * max_positions)
    scores.resize(size_t(pool.size()) * per_task * max_positions);
  const int tasks_per_col = nh / per_task;
  const int64_t n_tasks = int64_t(cols) * tasks_per_col;
  pool.run([&](int thread, int n_threads) {
    size_t i = 0;  // the item of the current task; tasks only move forward
    for (int64_t task = thread; task < n_tasks; task += n_threads) {
      const int col = static_cast<int>(task / tasks_per_col), h = static_cast<int>(task % tasks_per_col) * per_task;
      while (col >= first[i + 1]) ++i;
      const int t = col - first[i];
      const size_t kv_off = size_t(h / group) * hd;  // query head h reads kv head h / group
      const int pos = items[i].pos0 + t;
      const int oldest = window > 0 ? std::max(0, pos + 1 - window) : 0;  // a local layer's window
      attend({.q = q + size_t(col) * c.q_dim() + size_t(h) * hd,
              .k = k_layer + kv_off,
              .v = v_layer + kv_off,
              .rows = rows + rows0[i] + oldest,
              .n_keys = pos + 1 - oldest,
              .head_dim = hd,
              .scale = c.attn_scale,
              .alibi_slopes = slopes.empty() ? nullptr : slopes.data() + h,
              .scores = scores.data() + size_t(thread) * per_task * max_positions,
              .out = out + size_t(col) * c.q_dim() + size_t(h) * hd,
              .single_token = items[i].single_token,
              .n_heads = per_task});
    }
  });
}

// The architecture's norm of one column: RMSNorm, or LayerNorm with its bias.
void norm(const ModelConfig& c, const float* x, const std::vector<float>& w, const std::vector<float>& b, float* out) {
  if (c.norm == NormKind::kLayer)
    cpu::layernorm(x, w.data(), b.data(), c.d_model, c.rms_eps, out);
  else
    cpu::rmsnorm(x, w.data(), c.d_model, c.rms_eps, out);
}

// y += bias for one column (no-op for an empty bias).
void add_bias(float* y, const std::vector<float>& bias) {
  if (!bias.empty()) cpu::add_inplace(y, bias.data(), int64_t(bias.size()));
}

// x += out for one column; with post_norms (gemma3), x += rmsnorm(out) * norm.
void add_residual(const ModelConfig& c, const std::vector<float>& norm, float* out, float* x) {
  if (c.post_norms) cpu::rmsnorm(out, norm.data(), c.d_model, c.rms_eps, out);
  cpu::add_inplace(x, out, c.d_model);
}

// fn(t) for every column t of the step, the columns dealt over the pool when there are several:
// the per-column work between the matmuls (norms, RoPE, cache writes, residuals) would otherwise
// run on one thread while the others wait.
template <class Fn>
void per_column(ThreadPool& pool, int nt, const Fn& fn) {
  if (nt == 1) return fn(0);
  pool.parallel_for(nt, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) fn(static_cast<int>(t));
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
  const cpu::SiluMulFn silu_mul = c.ffn_act == FfnActivation::kSilu ? cpu::best_silu_mul() : cpu::gelu_tanh_mul;
  const cpu::RopeApplyFn rope_apply = cpu::best_rope_apply();
  // RoPE of global layers, and of local ones (their own base).
  const int n_rope = c.sliding_window > 0 ? 2 : 1;
  cpu::RopeParams rope[2];
  for (int local = 0; local < n_rope; ++local)
    rope[local] = {c.head_dim, c.rope_dim, local ? c.rope_theta_local : c.rope_theta, c.rope_freq_scale,
                   w.rope_freq_factors.empty() ? nullptr : w.rope_freq_factors.data(),
                   c.rope_mode == RopeMode::kNorm ? cpu::RopePairs::kAdjacent : cpu::RopePairs::kHalves};
  // Columns of the step: item i's tokens are columns first[i] .. first[i + 1] - 1. Its positions
  // 0 .. pos0 + size - 1 resolved to cache rows start at rows_[rows0[i]].
  std::vector<int> first(items.size() + 1);
  std::vector<size_t> rows0(items.size());
  int nt = 0;
  size_t n_rows = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    first[i] = nt, nt += static_cast<int>(items[i].tokens.size());
    rows0[i] = n_rows, n_rows += size_t(items[i].pos0) + items[i].tokens.size();
  }
  first[items.size()] = nt;
  s.rows_.resize(n_rows);
  for (size_t i = 0; i < items.size(); ++i)
    for (int p = 0; p < items[i].pos0 + int(items[i].tokens.size()); ++p)
      s.rows_[rows0[i] + size_t(p)] = kv.row(items[i].blocks[p / bt], p % bt);
  // The cache row each column's new key and value go to.
  std::vector<size_t> col_rows(nt);
  for (size_t i = 0; i < items.size(); ++i)
    for (int j = 0; j < int(items[i].tokens.size()); ++j)
      col_rows[first[i] + j] = s.rows_[rows0[i] + size_t(items[i].pos0 + j)];
  float* x = s.x_.data();    // [nt, d] residual stream
  float* xn = s.xn_.data();  // [nt, d] normalised input of a sub-layer

  for (size_t i = 0; i < items.size(); ++i)
    for (int j = 0; j < int(items[i].tokens.size()); ++j) {
      const int t = first[i] + j;
      float* xt = x + size_t(t) * d;
      dequantize_row_ref(w.token_embd.type, w.token_embd.row(items[i].tokens[j]), xt, d);
      if (c.embed_scale != 1.0f)
        for (int e = 0; e < d; ++e) xt[e] *= c.embed_scale;
      if (c.embed_norm) norm(c, xt, w.embd_norm, w.embd_norm_b, xt);
      for (int local = 0; local < (c.rope_dim > 0 ? n_rope : 0); ++local)
        cpu::rope_angles(items[i].pos0 + j, rope[local], &s.rope_cos_[local][size_t(t) * half],
                         &s.rope_sin_[local][size_t(t) * half]);
    }

  for (int li = 0; li < c.n_layers; ++li) {
    const LayerWeights& l = w.layers[li];
    const int local = c.is_local(li) ? 1 : 0;
    // Attention block: x += Wo · attn(rope(Wq·xn), rope(Wk·xn), Wv·xn), xn = norm(x); bloom has
    // one fused QKV matrix, biases and ALiBi (in the attention) instead of RoPE.
    per_column(pool, nt, [&](int t) { norm(c, x + size_t(t) * d, l.attn_norm, l.attn_norm_b, xn + size_t(t) * d); });
    float* q = s.q_.data();
    float* k = s.k_new_.data();
    float* v = s.v_new_.data();
    const int n_qkv = qd + 2 * kvd;
    if (c.fused_qkv) {
      cpu::matmul(l.wqkv, xn, nt, s.qkv_.data(), n_qkv, ks, pool, s.mm_);
    } else {
      cpu::matmul(l.wq, xn, nt, q, qd, ks, pool, s.mm_);
      cpu::matmul(l.wk, xn, nt, k, kvd, ks, pool, s.mm_);
      cpu::matmul(l.wv, xn, nt, v, kvd, ks, pool, s.mm_);
    }
    // Per column: biases, q/k norms and RoPE, then the new key and value into the f16 cache at
    // the column's row.
    f16_bits* k_layer = kv.k(0, li);
    f16_bits* v_layer = kv.v(0, li);
    per_column(pool, nt, [&](int t) {
      float* qt = q + size_t(t) * qd;
      float* kt = k + size_t(t) * kvd;
      float* vt = v + size_t(t) * kvd;
      if (c.fused_qkv) {
        float* row = s.qkv_.data() + size_t(t) * n_qkv;
        add_bias(row, l.bqkv);
        std::copy(row, row + qd, qt);
        std::copy(row + qd, row + qd + kvd, kt);
        std::copy(row + qd + kvd, row + n_qkv, vt);
      } else {
        add_bias(qt, l.bq);
        add_bias(kt, l.bk);
        add_bias(vt, l.bv);
      }
      if (c.qk_norm) {  // each head on its own, in place
        for (int h = 0; h < c.n_heads; ++h)
          cpu::rmsnorm(qt + size_t(h) * c.head_dim, l.q_norm.data(), c.head_dim, c.rms_eps, qt + size_t(h) * c.head_dim);
        for (int h = 0; h < c.n_kv_heads; ++h)
          cpu::rmsnorm(kt + size_t(h) * c.head_dim, l.k_norm.data(), c.head_dim, c.rms_eps, kt + size_t(h) * c.head_dim);
      }
      if (c.rope_dim > 0) {
        const float* cs = &s.rope_cos_[local][size_t(t) * half];
        const float* sn = &s.rope_sin_[local][size_t(t) * half];
        rope_apply(qt, c.n_heads, cs, sn, rope[local]);
        rope_apply(kt, c.n_kv_heads, cs, sn, rope[local]);
      }
      const size_t at = col_rows[t];
      for (int e = 0; e < kvd; ++e) {
        k_layer[at + e] = f32_to_f16(kt[e]);
        v_layer[at + e] = f32_to_f16(vt[e]);
      }
    });
    attention(c, items, first.data(), s.rows_.data(), rows0.data(), q, k_layer, v_layer, local ? c.sliding_window : 0,
              s.attn_.data(), s.scores_, s.max_positions(), pool);
    cpu::matmul(l.wo, s.attn_.data(), nt, xn, d, ks, pool, s.mm_);
    // Per column: x += the attention's output, then the feed-forward's input norm.
    per_column(pool, nt, [&](int t) {
      float* out = xn + size_t(t) * d;
      add_bias(out, l.bo);
      add_residual(c, l.post_attn_norm, out, x + size_t(t) * d);
      norm(c, x + size_t(t) * d, l.ffn_norm, l.ffn_norm_b, out);
    });

    // Feed-forward block: x += Wdown · (act(Wgate·xn) * Wup·xn) (SwiGLU; GeGLU for gemma), or
    // without a gate x += Wdown · gelu(Wup·xn + b_up) + b_down (bloom).
    cpu::matmul(l.w_up, xn, nt, s.up_.data(), f, ks, pool, s.mm_);
    float* hidden = s.up_.data();
    if (c.ffn_gated) {
      cpu::matmul(l.w_gate, xn, nt, s.gate_.data(), f, ks, pool, s.mm_);
      hidden = s.gate_.data();
      per_column(pool, nt, [&](int t) {
        add_bias(s.up_.data() + size_t(t) * f, l.b_up);
        silu_mul(s.gate_.data() + size_t(t) * f, s.up_.data() + size_t(t) * f, f);
      });
    } else {
      per_column(pool, nt, [&](int t) {
        add_bias(s.up_.data() + size_t(t) * f, l.b_up);
        cpu::gelu_tanh(s.up_.data() + size_t(t) * f, f);
      });
    }
    cpu::matmul(l.w_down, hidden, nt, xn, d, ks, pool, s.mm_);
    per_column(pool, nt, [&](int t) {
      add_bias(xn + size_t(t) * d, l.b_down);
      add_residual(c, l.post_ffn_norm, xn + size_t(t) * d, x + size_t(t) * d);
    });
  }

  // Logits of the tokens that ask for them, in item order, through one output matmul.
  int n_out = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const int n = static_cast<int>(items[i].tokens.size());
    const int from = items[i].logits == Logits::kAll ? 0 : items[i].logits == Logits::kLast ? n - 1 : n;
    for (int j = from; j < n; ++j, ++n_out)
      norm(c, x + size_t(first[i] + j) * d, w.output_norm, w.output_norm_b, xn + size_t(n_out) * d);
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
