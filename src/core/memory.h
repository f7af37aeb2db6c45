// Process memory figures for benchmarks and statistics.
#pragma once

#include <cstddef>

namespace joule {

// Peak resident set size of this process so far (getrusage ru_maxrss), in bytes.
size_t peak_rss_bytes();

}  // namespace joule
