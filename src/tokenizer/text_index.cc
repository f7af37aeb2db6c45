#include "tokenizer/text_index.h"

#include <bit>
#include <functional>

namespace joule::tok {

void TextIndex::build(const std::vector<std::string>& texts) {
  const size_t capacity = std::bit_ceil(2 * texts.size() + 1);
  slots_.assign(capacity, Slot{0, -1});
  mask_ = capacity - 1;
  for (size_t i = 0; i < texts.size(); ++i) {
    const size_t h = std::hash<std::string_view>{}(texts[i]);
    for (size_t pos = h & mask_;; pos = (pos + 1) & mask_) {
      Slot& slot = slots_[pos];
      if (slot.id < 0 || (slot.hash == static_cast<uint32_t>(h) && texts[slot.id] == texts[i])) {
        slot = {static_cast<uint32_t>(h), static_cast<int32_t>(i)};
        break;
      }
    }
  }
}

int32_t TextIndex::find(std::string_view s, const std::vector<std::string>& texts) const {
  if (slots_.empty()) return -1;
  const size_t h = std::hash<std::string_view>{}(s);
  for (size_t pos = h & mask_;; pos = (pos + 1) & mask_) {
    const Slot& slot = slots_[pos];
    if (slot.id < 0) return -1;
    if (slot.hash == static_cast<uint32_t>(h) && texts[slot.id] == s) return slot.id;
  }
}

}  // namespace joule::tok
