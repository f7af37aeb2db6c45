// Token text -> id lookup. An open-addressing table of 8-byte slots at load factor <= 1/2: building
// it for a 50k-token vocab takes a millisecond or two, where std::unordered_map's per-node
// allocations made up most of the tokenizer's construction time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace joule::tok {

class TextIndex {
 public:
  // Indexes texts[i] -> i; for duplicate texts the last id wins (as llama.cpp's token_to_id).
  void build(const std::vector<std::string>& texts);
  // The id of `s` or -1. `texts` must be the vector build() was given.
  int32_t find(std::string_view s, const std::vector<std::string>& texts) const;

 private:
  struct Slot {
    uint32_t hash;
    int32_t id;  // -1: empty
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace joule::tok
