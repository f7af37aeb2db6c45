#include "core/memory.h"

#include <sys/mman.h>
#include <sys/resource.h>

#include <new>

namespace joule {

size_t peak_rss_bytes() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<size_t>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

std::shared_ptr<uint8_t> alloc_huge_pages(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  constexpr std::align_val_t kAlign{kHuge};
  const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  auto* p = static_cast<uint8_t*>(::operator new(rounded, kAlign));
  (void)::madvise(p, rounded, MADV_HUGEPAGE);  // only a hint: without it, 4 KiB pages
  return std::shared_ptr<uint8_t>(p, [](uint8_t* q) { ::operator delete(q, kAlign); });
}

}  // namespace joule
