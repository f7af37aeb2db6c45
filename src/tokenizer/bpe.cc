#include "tokenizer/bpe.h"

#include <algorithm>
#include <bit>
#include <unordered_map>

#include "tokenizer/unicode.h"

namespace joule::tok {
namespace {

// Heap order of llama.cpp's llm_bigram_bpe::comparator: lowest rank first, then leftmost.
bool later(const BpeMerges::Scratch::Pair& a, const BpeMerges::Scratch::Pair& b) {
  return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
}

}  // namespace

void BpeMerges::add_merge(uint64_t k, Merge merge) {
  for (size_t pos = home(k);; pos = (pos + 1) & mask_) {
    if (slots_[pos].key == k) return;
    if (slots_[pos].key == kEmpty) {
      slots_[pos] = {k, merge};
      return;
    }
  }
}

const BpeMerges::Merge* BpeMerges::find_merge(uint64_t k) const {
  for (size_t pos = home(k);; pos = (pos + 1) & mask_) {
    if (slots_[pos].key == k) return &slots_[pos].merge;
    if (slots_[pos].key == kEmpty) return nullptr;
  }
}

BpeMerges BpeMerges::build(const Vocab& v, const std::vector<std::string>& merges) {
  BpeMerges m;
  const size_t capacity = std::bit_ceil(2 * merges.size() + 2);
  m.slots_.assign(capacity, Slot{kEmpty, {}});
  m.mask_ = capacity - 1;
  m.shift_ = 64 - std::countr_zero(capacity);
  std::unordered_map<std::string, int32_t> extra;  // texts found only in merges
  auto intern = [&](std::string_view text) {
    if (TokenId id = v.find(text); id >= 0) return id;
    auto [it, added] =
        extra.try_emplace(std::string(text), v.size() + static_cast<int32_t>(extra.size()));
    return it->second;
  };
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string_view line = merges[rank];
    const size_t space = line.find(' ', 1);
    const std::string_view left = space == line.npos ? "" : line.substr(0, space);
    const std::string_view right = space == line.npos ? "" : line.substr(space + 1);
    joined.assign(left).append(right);
    m.add_merge(key(intern(left), intern(right)),
                Merge{static_cast<int32_t>(rank), intern(joined)});
  }
  for (int b = 0; b < 256; ++b) {
    const std::string_view ch = byte_to_unicode(static_cast<uint8_t>(b));
    TokenId id = v.find(ch);
    if (id < 0) {
      auto it = extra.find(std::string(ch));
      id = it == extra.end() ? -1 : it->second;
    }
    m.byte_symbol_[b] = id;
  }
  return m;
}

void BpeMerges::push_pair(Scratch& s, int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return;
  const int32_t left_id = s.symbols[left].id;
  const int32_t right_id = s.symbols[right].id;
  if (left_id < 0 || right_id < 0) return;
  const Merge* m = find_merge(key(left_id, right_id));
  if (!m) return;
  s.heap.push_back({m->rank, left, right, left_id, right_id, m->merged_id});
  std::push_heap(s.heap.begin(), s.heap.end(), later);
}

void BpeMerges::encode_word(const Vocab& v, std::string_view word, bool ignore_merges,
                            std::vector<TokenId>& out, Scratch& s) const {
  if (word.empty()) return;
  auto alphabet_text = [&](uint32_t begin, uint32_t len) -> const std::string& {
    s.text.clear();
    for (uint32_t i = begin; i < begin + len; ++i)
      s.text += byte_to_unicode(static_cast<uint8_t>(word[i]));
    return s.text;
  };
  if (ignore_merges) {
    if (TokenId id = v.find(alphabet_text(0, static_cast<uint32_t>(word.size()))); id >= 0) {
      out.push_back(id);
      return;
    }
  }

  const auto n = static_cast<int32_t>(word.size());
  s.symbols.clear();
  s.heap.clear();
  for (int32_t i = 0; i < n; ++i) {
    s.symbols.push_back({byte_symbol_[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1,
                         static_cast<uint32_t>(i), 1});
  }
  for (int32_t i = 1; i < n; ++i) push_pair(s, i - 1, i);

  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), later);
    const Scratch::Pair p = s.heap.back();
    s.heap.pop_back();
    auto& left = s.symbols[p.left];
    auto& right = s.symbols[p.right];
    if (left.len == 0 || right.len == 0 || left.id != p.left_id || right.id != p.right_id) continue;
    left.id = p.merged_id;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) s.symbols[right.next].prev = p.left;
    push_pair(s, left.prev, p.left);
    push_pair(s, p.left, left.next);
  }

  // The first symbol is never merged away, so the chain starts at 0.
  for (int32_t i = 0; i >= 0; i = s.symbols[i].next) {
    const auto& sym = s.symbols[i];
    if (v.valid(sym.id)) {
      out.push_back(sym.id);
      continue;
    }
    // Not a token (a merge result missing from the vocab, or an unknown byte): llama.cpp looks
    // each byte of the alphabet text up as a one-byte token and drops those that are not.
    for (char c : alphabet_text(sym.begin, sym.len)) {
      if (TokenId id = v.find(std::string_view(&c, 1)); id >= 0) out.push_back(id);
    }
  }
}

}  // namespace joule::tok
