// Byte-level BPE on one pre-tokenized word, as llama.cpp's llm_tokenizer_bpe_session: the word's
// bytes start as single GPT-2 alphabet symbols and the adjacent pair with the lowest merge rank
// (leftmost on ties) is merged until no pair has a merge.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace joule::tok {

class BpeMerges {
 public:
  // Lines are "left right" (split at the first space after the first character, as llama.cpp);
  // the first occurrence of a pair sets its rank.
  static BpeMerges build(const Vocab& v, const std::vector<std::string>& merges);

  // Per-call working memory, reused across the words of one encode.
  struct Scratch {
    struct Symbol {
      int32_t id;  // symbol id (see below), -1 when the text is neither a token nor in a merge
      int32_t prev, next;
      uint32_t begin, len;  // byte range in the word; len 0 once merged into its left neighbour
    };
    struct Pair {
      int32_t rank, left, right, left_id, right_id, merged_id;
    };
    std::vector<Symbol> symbols;
    std::vector<Pair> heap;
    std::string text;
  };

  // Appends the token ids of `word` (bytes of normalized UTF-8) to `out`. ignore_merges: a word
  // that is itself a vocab token is emitted whole (llama.cpp does so for llama3-style vocabs).
  void encode_word(const Vocab& v, std::string_view word, bool ignore_merges,
                   std::vector<TokenId>& out, Scratch& s) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  // (left id, right id) -> merge, open addressing at load factor <= 1/2 (ids are >= 0, so a key
  // is never kEmpty).
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t key(int32_t left, int32_t right) {
    return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  }
  size_t home(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }
  void add_merge(uint64_t key, Merge m);  // keeps the first merge of a pair
  const Merge* find_merge(uint64_t key) const;
  void push_pair(Scratch& s, int32_t left, int32_t right) const;

  // Symbols are identified by id rather than text: a vocab text by its token id, a text that only
  // occurs in merges by an id >= n_vocab. Ids equal exactly when texts do, so comparing ids is
  // llama.cpp's check that a queued pair is still current.
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 63;
  std::array<int32_t, 256> byte_symbol_{};  // symbol id of the alphabet character of each byte
};

}  // namespace joule::tok
