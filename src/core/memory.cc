#include "core/memory.h"

#include <sys/resource.h>

namespace joule {

size_t peak_rss_bytes() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<size_t>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace joule
