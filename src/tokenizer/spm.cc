#include "tokenizer/spm.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace joule::tok {
namespace {

struct Symbol {
  int32_t prev, next;
  size_t begin, len;  // len 0 once merged into its left neighbour
};

struct Pair {
  float score;
  int32_t left, right;
  size_t len;  // bytes of the merged text when queued: a changed side makes the pair stale
};

// Heap order of llama.cpp's llm_bigram_spm::comparator: highest score first, then leftmost.
bool later(const Pair& a, const Pair& b) {
  return a.score < b.score || (a.score == b.score && a.left > b.left);
}

}  // namespace

void spm_encode(const Vocab& v, std::string_view text, std::vector<TokenId>& out) {
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = std::min(utf8_len(text[pos]), text.size() - pos);
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({index - 1, pos + len < text.size() ? index + 1 : -1, pos, len});
    pos += len;
  }

  std::vector<Pair> heap;
  auto push_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const size_t len = symbols[left].len + symbols[right].len;
    const TokenId id = v.find(text.substr(symbols[left].begin, len));
    if (id < 0) return;
    heap.push_back({v.score[id], left, right, len});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) push_pair(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Pair p = heap.back();
    heap.pop_back();
    Symbol& left = symbols[p.left];
    Symbol& right = symbols[p.right];
    if (left.len == 0 || right.len == 0 || left.len + right.len != p.len) continue;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = p.left;
    push_pair(left.prev, p.left);
    push_pair(p.left, left.next);
  }

  // Merged symbols are tokens by construction, so llama.cpp's re-segmentation of non-token
  // symbols only ever applies to single characters: those become byte tokens. A byte without a
  // <0xXX> token (llama.cpp aborts there) becomes the unknown token when the vocab has one.
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    const Symbol& sym = symbols[i];
    if (TokenId id = v.find(text.substr(sym.begin, sym.len)); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (size_t b = sym.begin; b < sym.begin + sym.len; ++b) {
      const TokenId id = v.byte_token[static_cast<uint8_t>(text[b])];
      if (id >= 0) {
        out.push_back(id);
      } else if (v.unk >= 0) {
        out.push_back(v.unk);
      }
    }
  }
}

}  // namespace joule::tok
