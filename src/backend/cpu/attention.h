// Attention of the query heads that share one kv head, over a cache of f16 keys and values.
//
// The cache holds f16 like llama.cpp's default, which halves its memory and bandwidth, and the
// arithmetic follows llama.cpp's non-flash path so results track it closely: the query is
// rounded to f16 for q.k (f32 accumulation), scores are scaled and soft-maxed in f32, and the
// probabilities are rounded to f16 before weighting the values (f32 accumulation).
#pragma once

#include <cstddef>

#include "quant/types.h"

namespace joule::cpu {

struct AttendArgs {
  // n_heads query heads of one column that read the same kv head (grouped-query attention): the
  // AVX-512 variant loads and converts each key and value once for all of them. Each head's
  // result is the one it gets alone.
  const float* q;        // [n_heads][head_dim]
  // This layer's keys and values at this kv head's offset; position j's key is at k + rows[j]
  // and its value at v + rows[j]. A paged cache resolves its block table into `rows` once per
  // step, so attention reads the blocks in place instead of gathering them.
  const f16_bits* k;
  const f16_bits* v;
  const size_t* rows;    // n_keys element offsets
  int n_keys;            // positions 0 .. n_keys-1 are attended
  int head_dim;
  float scale;           // 1 / sqrt(head_dim)
  // ALiBi (bloom): key j's scaled score gets slope * (j - (n_keys - 1)), minus the slope times
  // its distance from the query, which is the last key. One slope per head; nullptr: no bias.
  const float* alibi_slopes = nullptr;
  float* scores;         // scratch, n_heads * n_keys floats (head h's at h * n_keys)
  float* out;            // [n_heads][head_dim]
  // The query is the only token of its batch: llama.cpp then sums in its single-token order
  // (ggml_vec_dot_f16) instead of its batched one (tinyBLAS); see attention_avx512.cc.
  bool single_token = false;
  int n_heads = 1;

  // Heads [h0, h0 + n) of the group as a group of their own (defined in attention.cc, a baseline
  // translation unit, as ISA files must not emit shared inline code).
  AttendArgs heads(int h0, int n) const;
  const f16_bits* key(int j) const { return k + rows[j]; }
  const f16_bits* value(int j) const { return v + rows[j]; }
};

using AttendFn = void (*)(const AttendArgs& a);

// Adds the ALiBi biases to the scores of a one-head `a` (already scaled), as ggml's soft_max adds
// slope * mask; every variant calls it between the scores and the softmax.
void add_alibi(const AttendArgs& a);

void attend_head_scalar(const AttendArgs& a);
void attend_head_avx512(const AttendArgs& a);  // attention_avx512.cc; head_dim % 16 == 0
void attend_head_avx2(const AttendArgs& a);    // attention_avx2.cc; head_dim % 8 == 0, <= 256

// The fastest variant for this CPU and head size (follows best_kernels(), so JOULE_ISA caps it).
AttendFn best_attend(int head_dim);

}  // namespace joule::cpu
